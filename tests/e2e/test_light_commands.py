"""The light commands (--help, validate, list, leaderboard) import neither torch nor accelerate."""

import subprocess
import sys

from tests.conftest import REPO, SUITES

PROBE = """
import sys
from harness.cli import main
for argv in {commands!r}:
    try:
        main(argv)
    except SystemExit:
        pass  # --help exits
heavy = sorted(m for m in ("torch", "accelerate", "torchmetrics") if m in sys.modules)
print("HEAVY:", ",".join(heavy) or "none")
"""


def test_light_commands_do_not_import_torch(tiny_results):
    commands = [["--help"], ["validate", *map(str, sorted(SUITES.glob("*.toml")))], ["list"],
                ["leaderboard", str(tiny_results)], ["leaderboard", str(tiny_results), "--format", "csv"]]
    probe = subprocess.run([sys.executable, "-c", PROBE.format(commands=commands)], capture_output=True, text=True,
                           cwd=REPO, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert "ok " in probe.stdout and "gan" in probe.stdout  # the commands did their work
    assert probe.stdout.strip().endswith("HEAVY: none"), probe.stdout[-500:]


def test_every_help_text_is_clean_and_names_files_that_exist():
    """Every command's --help, as argparse prints it: no doubled or stray format characters (a
    description is not %-formatted, so `%%` shows as such), and every harness/... path it names exists."""
    import argparse
    import re

    from harness.cli import build_parser

    def parsers(parser: argparse.ArgumentParser):
        yield parser
        for action in parser._actions:  # argparse keeps subcommands here; there is no public accessor
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    for parser in parsers(build_parser()):
        text = parser.format_help()
        assert "%%" not in text and "%(" not in text and "PydanticUndefined" not in text, parser.prog
        for path in re.findall(r"harness/[\w/]+\.\w+", text):
            assert (REPO / path).exists() or "DATASET" in path, f"{parser.prog}: {path}"
