"""Random search in suites: seeded, distributions respected, ids stable, mistakes named."""

import math
from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.search import parse_search
from harness.suite import load_suite

SUITE = """
[suite]
name = "search"
dataset = "mnist"
seeds = [0, 1]

[defaults]
epochs = 1

[[run]]
name = "gan"
model = "mlp_gan"

[run.search]
samples = {samples}
lr = {{ log_uniform = [1e-5, 1e-3] }}
latent_dim = {{ int = [8, 64] }}
objective = {{ choice = ["non_saturating", "hinge", "least_squares"] }}
leaky_slope = {{ uniform = [0.0, 0.3] }}
"""


def write(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_search_is_seeded_ids_are_stable_and_more_samples_keep_the_earlier_trials(tmp_path):
    first = load_suite(write(tmp_path, SUITE.format(samples=4), "a.toml"))
    again = load_suite(write(tmp_path, SUITE.format(samples=4), "b.toml"))
    more = load_suite(write(tmp_path, SUITE.format(samples=6), "c.toml"))
    assert [r.id for r in first.runs] == [f"gan-t{i:02d}-s{s}" for i in range(4) for s in (0, 1)]
    assert [(r.id, r.matrix, r.config_hash) for r in first.runs] == [(r.id, r.matrix, r.config_hash) for r in again.runs]
    assert [(r.id, r.matrix) for r in more.runs[:8]] == [(r.id, r.matrix) for r in first.runs]
    # both seeds of a trial share its values; the drawn values are what the run trains with
    for run in first.runs:
        assert run.trial is not None and run.model_config.lr == run.matrix["lr"]
        assert run.model_config.objective == run.matrix["objective"]


def test_distributions_are_respected():
    search, problems = parse_search({"samples": 2000, "lr": {"log_uniform": [1e-5, 1e-3]}, "n": {"int": [8, 12]},
                                     "c": {"choice": ["a", "b", "c"]}, "u": {"uniform": [-1.0, 3.0]}}, "search")
    assert not problems and search is not None
    trials = search.trials("gan")
    lrs = [t["lr"] for t in trials]
    assert all(1e-5 <= v <= 1e-3 for v in lrs)
    assert abs(sum(math.log10(v) for v in lrs) / len(lrs) - (-4)) < 0.05  # uniform in log space: mean exponent -4
    assert sum(v < 1e-4 for v in lrs) / len(lrs) == pytest.approx(0.5, abs=0.05)  # half below the log midpoint
    assert {t["n"] for t in trials} == {8, 9, 10, 11, 12}  # inclusive bounds
    assert {t["c"] for t in trials} == {"a", "b", "c"}
    uniform = [t["u"] for t in trials]
    assert all(-1 <= v <= 3 for v in uniform) and abs(sum(uniform) / len(uniform) - 1.0) < 0.1
    assert all(float(f"{v:.3g}") == v for v in lrs + uniform)  # 3 significant digits
    other = parse_search({"samples": 5, "lr": {"log_uniform": [1e-5, 1e-3]}, "seed": 1}, "search")[0]
    assert other.trials("gan") != search.trials("gan")[:5]  # another seed, other draws


@pytest.mark.parametrize("table, expected", [
    ('samples = 0\nlr = { log_uniform = [1e-5, 1e-3] }', "run[0].search.samples: expected the number"),
    ('samples = 3\nlr = { normal = [0, 1] }', "run[0].search.lr: expected one distribution"),
    ('samples = 3\nlr = { log_uniform = [1e-3, 1e-5] }', "needs low < high"),
    ('samples = 3\nlr = { log_uniform = [0, 1e-3] }', "log_uniform needs low > 0"),
    ('samples = 3\nlatent_dim = { int = [8.5, 64] }', "int takes two whole numbers"),
    ('samples = 3\nwidth = { int = [8, 64] }', "run[0].search.width: unknown key 'width'"),
    ('samples = 3\nlatent_dim = { int = [-8, -1] }', "run[0].search.latent_dim (trial"),
    ('samples = 3', "names no key to search"),
])
def test_search_mistakes_are_named(tmp_path, table, expected):
    text = SUITE.split("[run.search]")[0] + "[run.search]\n" + table + "\n"
    with pytest.raises(SuiteError) as err:
        load_suite(write(tmp_path, text))
    assert expected in str(err.value)


def test_a_key_is_swept_or_searched_not_both_and_search_lives_in_one_place(tmp_path):
    text = SUITE.format(samples=2) + "\n[run.matrix]\nlr = [1e-4, 2e-4]\n"
    with pytest.raises(SuiteError, match="sweep or search it, not both"):
        load_suite(write(tmp_path, text))
    text = SUITE.format(samples=2).replace("[[run]]", "[search]\nsamples = 2\nlr = { uniform = [0.1, 0.2] }\n\n[[run]]")
    with pytest.raises(SuiteError, match="search in one place"):
        load_suite(write(tmp_path, text, "b.toml"))


def test_max_runs_counts_search_trials(tmp_path):
    text = SUITE.format(samples=600).replace('seeds = [0, 1]', 'seeds = [0, 1]\nmax_runs = 1000')
    with pytest.raises(SuiteError, match="more than 1,000 runs"):
        load_suite(write(tmp_path, text))
