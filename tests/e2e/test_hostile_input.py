"""No input gives a traceback: property-based tests over suite files, CLI arguments and results folders.

Hypothesis draws the inputs (derandomized, so CI sees the same examples every time); every
rejection must be one line per problem naming the file (and for suites the key), and an exit
code, never an exception escaping the CLI.
"""

import contextlib
import io
import json
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.core.errors import SuiteError
from harness.config.expansion import load_suite
from tests.conftest import SUITES

TINY_TEXT = (SUITES / "tiny.toml").read_text()
TINY_VALUE_LINES = [i for i, line in enumerate(TINY_TEXT.splitlines()) if " = " in line and not line.startswith("#")]
def fuzz(examples: int) -> settings:
    """Derandomized (the same examples in every CI run), no per-example deadline (CI machines are slow)."""
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def cli(*argv: str) -> tuple[int, str]:
    """Run the CLI in this process; return (exit code, everything it printed). Any exception fails the test."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's own usage errors
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue()


def toml_literal(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_literal(v)}" for k, v in value.items()) + " }"


hostile_scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**32, 2**63, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 1e308, float("inf"), float("nan")]),
    st.booleans(),
    st.text(max_size=300),
    st.sampled_from(["", "gan\n", "a" * 300, "../escape", "x/y", "normal", "relu", "mnist", "tiny"]),
)
hostile_values = st.recursive(hostile_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)), max_leaves=8)


def assert_one_line_per_problem(err: SuiteError, path: Path) -> None:
    assert err.problems, "a SuiteError lists its problems"
    for line in str(err).splitlines():
        assert line.startswith(f"{path}: "), line  # every line names the file


@fuzz(300)
@given(line=st.sampled_from(TINY_VALUE_LINES), value=hostile_values)
def test_mutated_suite_values_are_accepted_or_rejected_in_one_line_each(tmp_path_factory, line, value):
    lines = TINY_TEXT.splitlines()
    key = lines[line].split(" = ")[0]
    lines[line] = f"{key} = {toml_literal(value)}"
    path = tmp_path_factory.mktemp("suite") / "mutated.toml"
    path.write_text("\n".join(lines) + "\n")
    try:
        suite = load_suite(path)
    except SuiteError as err:
        assert_one_line_per_problem(err, path)
        assert "unknown configuration" not in str(err)  # tiny has no claims: no false alarms either
        return
    # Accepted: then it is something training can run.
    for run in suite.runs:
        assert run.training.batch_size <= (run.training.train_subset or 60_000)
        assert 0 <= run.seed < 2**32 and "\n" not in run.id and len(run.id) <= 200
        assert all(math.isfinite(v) for v in _numbers(run.model_config.model_dump()))


def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, float):
        yield value


@fuzz(100)
@given(data=st.binary(max_size=400), cut=st.integers(min_value=0, max_value=len(TINY_TEXT)))
def test_mangled_suite_files_are_rejected_cleanly(tmp_path_factory, data, cut):
    path = tmp_path_factory.mktemp("suite") / "mangled.toml"
    path.write_bytes(TINY_TEXT.encode()[:cut] + data + TINY_TEXT.encode()[cut:])
    code, output = cli("validate", str(path))
    assert code in (0, 2) and "Traceback" not in output


@pytest.mark.parametrize("text, expected", [
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\nlr = inf\n',
     "run[0].lr: expected a finite number"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [4294967296]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n',
     "suite.seeds[0]: expected less than 4294967296"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan\\n"\nmodel = "mlp_gan"\n',
     "run[0].name: expected letters"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "' + "g" * 150 + '"\nmodel = "mlp_gan"\n',
     "at most 100 characters"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n'
     "epochs = 123456789012345678901234567890\n", "does not fit in 64 bits"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n'
     "batch_size = 100000\n", "larger than the 60,000 training images"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n'
     "[evaluation]\nreconstruction_images = 20000\n", "more than the 10,000 test images"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n'
     "[run.matrix]\nlr = [1, 1.0]\n", "have the same configuration"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n'
     '[[claim]]\ntext = "x"\nmetric = "fid"\nbetter = "gan"\nthan = "gan"\n', "better and than are both"),
    ('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n'
     "[run.matrix]\nlatent_dim = [" + ", ".join(map(str, range(1, 401))) + "]\nlr = ["
     + ", ".join(f"{i}e-5" for i in range(1, 401)) + "]\n", "expands to more than 1,000 runs"),
    ("x = " + "[" * 300 + "]" * 300 + "\n", "nested more than 8 levels"),
    ("x = " + "[" * 50_000 + "]" * 50_000 + "\n", "nested"),
    ('[suite]\nname = "my suite"\ndataset = "mnist"\nseeds = [0]\n[[run]]\nname = "gan"\nmodel = "mlp_gan"\n',
     "suite.name: expected letters, digits"),
])
def test_each_gap_is_closed_with_a_clear_line(tmp_path, text, expected):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    code, output = cli("validate", str(path))
    assert code == 2 and expected in output and "Traceback" not in output, output


def test_a_claim_is_not_blamed_for_someone_elses_error(tmp_path):
    """An error in one run must not make a valid claim about a later run 'unknown'."""
    path = tmp_path / "suite.toml"
    path.write_text('[suite]\nname = "s"\ndataset = "mnist"\nseeds = [0]\n'
                    '[[run]]\nname = "a"\nmodel = "mlp_gan"\nlr = -1.0\n'
                    '[[run]]\nname = "b"\nmodel = "mlp_gan"\n'
                    '[[claim]]\ntext = "a beats b"\nmetric = "fid"\nbetter = "a"\nthan = "b"\n')
    code, output = cli("validate", str(path))
    assert code == 2 and "run[0].lr" in output and "unknown configuration" not in output


def test_files_that_are_not_suites(tmp_path):
    for target in ("/dev/zero", str(tmp_path)):
        code, output = cli("validate", target)
        assert code == 2 and "not a regular file" in output
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 2_000_000 + "\n")
    code, output = cli("validate", str(big))
    assert code == 2 and "larger than" in output


# -- CLI arguments ---------------------------------------------------------------------------

ARGUMENT_WORDS = ["--only", "--results", "--force", "--rerun", "--threads", "--mixed-precision", "--strategy",
                  "--metrics", "--sort", "--format", "--num-samples", "--output", "-1", "0", "1", "2**40",
                  "99999999999999999999", "nan", "fp16", "bf16", "gan", "*", "", "\n", "../..", "/dev/null",
                  "md", "csv", "json", "latex", "fid", "nonsense"]


@fuzz(150)
@given(command=st.sampled_from(["validate", "list", "leaderboard", "status", "run", "evaluate", "report", "nope"]),
       words=st.lists(st.sampled_from(ARGUMENT_WORDS), max_size=6))
def test_any_arguments_end_in_a_message_not_a_traceback(tmp_path_factory, command, words):
    target = {"validate": [str(SUITES / "tiny.toml")], "run": [str(SUITES / "tiny.toml"), "--dry-run"]}.get(
        command, [str(tmp_path_factory.mktemp("empty"))])
    code, output = cli(command, *target, *words)
    assert isinstance(code, int) and "Traceback" not in output


# -- results folders -------------------------------------------------------------------------

CORRUPTIONS = {
    "missing": None, "empty": b"", "random bytes": bytes(range(256)) * 3, "json list": b"[1, 2]",
    "json object": b'{"foo": 1}', "pickle": b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.",
    "not utf-8": b"\xff\xfe\x00\x80",
}


@pytest.fixture(scope="module")
def results_files(tiny_results):
    return sorted(str(p.relative_to(tiny_results)) for p in tiny_results.rglob("*") if p.is_file())


@pytest.mark.slow
@fuzz(120)
@given(data=st.data())
def test_corrupt_results_files_are_named_never_a_traceback(tiny_results, results_files, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("corrupt") / "tiny"
    shutil.copytree(tiny_results, folder)
    name = data.draw(st.sampled_from(results_files), label="file")
    kind = data.draw(st.sampled_from(sorted(CORRUPTIONS) + ["truncated"]), label="corruption")
    target = folder / name
    if kind == "truncated":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif CORRUPTIONS[kind] is None:
        target.unlink()
    else:
        target.write_bytes(CORRUPTIONS[kind])
    for command in ("leaderboard", "status"):
        code, output = cli(command, str(folder))
        assert "Traceback" not in output
        if code != 0:
            assert "error:" in output or "unreadable" in output  # a refusal (or a bad state) says why
    run_id, _, file = name.partition("/")
    if file in ("config.json", "run.json", "metrics_row.json") and kind != "missing" or file == "run.json":
        code, output = cli("leaderboard", str(folder), "--format", "csv")
        assert f"{run_id}: " in output and "unreadable" in output  # named, and never shown as ok


def test_report_survives_corrupt_files_and_names_them(tiny_results, tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_results, folder)
    (folder / "gan-s0" / "history.jsonl").write_bytes(b"\xff\x00garbage")
    (folder / "gan-s0" / "samples.png").write_bytes(b"not a png")
    (folder / "vae-s0" / "figures.safetensors").write_bytes(b"{}")
    (folder / "reference" / "metrics.json").write_text('{"what": 1')
    code, output = cli("report", str(folder))
    assert code == 0 and "Traceback" not in output, output
    html = (folder / "report.html").read_text()
    flat = output.replace("\n", "")  # long paths are folded at the terminal's width
    for broken in ("history.jsonl", "samples.png", "figures.safetensors", "reference/metrics.json"):
        assert broken in flat and broken in html


def test_foreign_and_empty_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "suite.toml").write_text("not toml [")
    for command in ("leaderboard", "status", "report", "evaluate"):
        for folder in ("empty", "foreign", "missing"):
            code, output = cli(command, str(tmp_path / folder))
            assert code == 2 and "error:" in output and "Traceback" not in output, (command, folder, output)
