"""docs/python-api.md, executed: its code blocks run in order in one namespace, in an empty
folder, in a fresh interpreter (as a notebook's kernel would), and what they promise is checked."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

PAGE = REPO / "docs" / "python-api.md"


def test_the_python_api_page_runs_as_written(tmp_path, data_dir):
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 5
    script = "\n".join(blocks) + (
        "\nimport json\n"
        "html = board._repr_html_()\n"
        "json.dump({'html': html, 'rows': len(board.table), 'runs': len(runs),"
        " 'statuses': [o.status for o in outcome.outcomes]}, open('checked.json', 'w'))\n")
    (tmp_path / "notebook.py").write_text(script, encoding="utf-8")
    done = subprocess.run([sys.executable, "notebook.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HARNESS_DATA_DIR": str(data_dir)})
    assert done.returncode == 0, done.stderr[-3000:]
    checked = json.loads((tmp_path / "checked.json").read_text())
    assert checked["statuses"] == ["completed"] * 4 and checked["runs"] == 4 and checked["rows"] == 2
    assert "<table" in checked["html"] and "FID" in checked["html"] and "gan" in checked["html"]
    assert (tmp_path / "key_metrics.png").stat().st_size > 10_000
    assert (tmp_path / "results" / "notebook" / "report.html").is_file()

    # the dict suite was kept as TOML: the command line reads the folder as any other
    status = subprocess.run([sys.executable, "-m", "harness", "status", "results/notebook"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "HARNESS_DATA_DIR": str(data_dir)})
    assert status.returncode == 0 and "4 done" in status.stdout
    again = subprocess.run([sys.executable, "-m", "harness", "run", "results/notebook/suite.toml", "--results",
                            "results"], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "HARNESS_DATA_DIR": str(data_dir)})
    assert again.returncode == 0 and "nothing to do" in again.stderr
