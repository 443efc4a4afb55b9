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
