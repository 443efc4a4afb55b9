"""Random search in suites: seeded, distributions respected, ids stable, mistakes named."""

import math
from pathlib import Path

import pytest

from harness.core.errors import SuiteError
from harness.config.search import best_trial, parse_search
from harness.config.expansion import load_suite
from tests.conftest import run_cli

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
    ('samples = 3\nselect = "sharpness"\nlr = { log_uniform = [1e-5, 1e-3] }', "run[0].search.select: 'sharpness' is not"),
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


def test_best_trial_known_answers():
    assert best_trial({0: 3.0, 1: 1.0, 2: 2.0}, lower_is_better=True) == 1
    assert best_trial({0: 3.0, 1: 1.0, 2: 2.0}, lower_is_better=False) == 0
    assert best_trial({0: 2.0, 1: 1.0, 2: 1.0}, lower_is_better=True) == 1  # the first of equals
    assert best_trial({0: None, 1: float("nan"), 2: 5.0}, lower_is_better=True) == 2  # failed trials never win
    assert best_trial({0: None, 1: None}, lower_is_better=True) is None


def test_select_holds_back_the_later_seeds_until_a_trial_is_chosen(tmp_path):
    text = SUITE.format(samples=3).replace("seeds = [0, 1]", "seeds = [0, 1, 2]").replace(
        "[run.search]", '[run.search]\nselect = "fid"')
    suite = load_suite(write(tmp_path, text))
    assert [run.id for run in suite.runs] == ["gan-t00-s0", "gan-t01-s0", "gan-t02-s0"]
    assert sorted(run.id for run in suite.later_seeds({"gan": 1})) == ["gan-t01-s1", "gan-t01-s2"]
    assert len(suite.later) == 6 and suite.later_seeds({}) == []
    assert {run.config_hash for run in suite.later_seeds({"gan": 1})} != {suite.runs[1].config_hash}  # seeds differ
    assert {run.configuration for run in suite.later_seeds({"gan": 1})} == {"gan-t01"}  # one configuration
    with pytest.raises(SuiteError, match="evaluation.enabled: is false, but a search's `select`"):
        load_suite(write(tmp_path, text + "\n[evaluation]\nenabled = false\n", "off.toml"))


SELECT_SUITE = """
[suite]
name = "select"
dataset = "mnist"
seeds = [0, 1, 2]

[defaults]
epochs = 1
batch_size = 64
train_subset = 512

[[run]]
name = "vae"
model = "mlp_vae"
encoder_hidden = [32]
decoder_hidden = [32]
latent_dim = 4

[run.search]
samples = 3
select = "reconstruction_mse"
lr = { log_uniform = [1e-5, 1e-2] }

[evaluation]
metrics = ["reconstruction"]
num_samples = 200
kid_subset_size = 100
reconstruction_images = 100
"""


def _scores(folder: Path) -> dict[str, float]:
    import json

    return {row.parent.name: json.loads(row.read_text())["reconstruction_mse"] for row in folder.glob("*/metrics_row.json")}


@pytest.mark.slow
@pytest.mark.parametrize("launch", ["one process", "two processes"])
def test_the_best_trial_by_the_select_metric_trains_the_other_seeds(tmp_path, launch):
    """Real MNIST: the search trains each trial with seed 0, then only the trial with the lowest
    reconstruction error trains with seeds 1 and 2, in the same launch (two run-parallel
    processes wait for each other's trials and agree without talking)."""
    import os
    import subprocess
    import sys

    from harness.analysis.trials import with_chosen_trials
    from harness.store import SuiteFolder
    from tests.conftest import _data_dir

    suite_file = write(tmp_path, SELECT_SUITE)
    command = ["-m", "harness", "run", str(suite_file), "--results", str(tmp_path / "results"), "--mixed-precision", "no"]
    env = {**os.environ, "HARNESS_DATA_DIR": str(_data_dir()), "OMP_NUM_THREADS": "1"}
    if launch == "one process":
        done = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env, timeout=300)
    else:
        done = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2",
                               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *command],
                              capture_output=True, text=True, env={**env, "ACCELERATE_USE_CPU": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "search done: the best trial of vae trains with the other seeds (2 run(s))" in done.stderr
    scores = _scores(tmp_path / "results" / "select")
    trials = {run: score for run, score in scores.items() if run.endswith("-s0")}
    best = min(trials, key=trials.get).removesuffix("-s0")
    assert sorted(scores) == sorted([*trials, f"{best}-s1", f"{best}-s2"])

    if launch == "one process":  # the report leads with the chosen configuration; every trial is in leaderboard.md
        assert run_cli("report", str(tmp_path / "results" / "select")).returncode == 0
        report = (tmp_path / "results" / "select" / "report.md").read_text()
        leaderboard = report.split("## Leaderboard")[1].split("##")[0]
        assert f"| {best} " in leaderboard and "chosen configuration" in leaderboard
        assert sum(f"| vae-t0{i} " in leaderboard for i in range(3)) == 1
        assert all(f"| vae-t0{i} " in (tmp_path / "results" / "select" / "leaderboard.md").read_text() for i in range(3))

    folder = SuiteFolder(tmp_path / "results" / "select")
    suite = load_suite(suite_file)
    assert len(with_chosen_trials(suite, folder).runs) == 5
    (folder.run(f"{best}-s0").metrics_row_file).unlink()  # one trial not scored: the search is undecided again
    assert len(with_chosen_trials(suite, folder).runs) == 3
    again = run_cli("run", str(suite_file), "--results", str(tmp_path / "results"), "--mixed-precision", "no")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _scores(tmp_path / "results" / "select") == scores  # re-scored, nothing retrained
