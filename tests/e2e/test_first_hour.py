"""A new user's first hour: the README's install line in a fresh virtual environment, then every
command `harness run` suggests, offline, with no data directory configured anywhere.
"""

import pytest
import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

from tests.conftest import REPO, SUITES, run_cli

# Any download attempt fails at once instead of silently fetching a second copy of MNIST.
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No $HARNESS_DATA_DIR, an empty home and cache, no network."""
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DATA_DIR"}
    return {**env, **OFFLINE, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "cache")}


def suggested_commands(stderr: str) -> list[list[str]]:
    """The `python -m harness ...` commands the end of `harness run` prints."""
    return [command.split()[3:] for command in re.findall(r"python -m harness \w+ [^\s;)]+", stderr)]


@pytest.mark.slow
def test_every_suggested_command_works_offline_without_a_data_dir(tmp_path, data_dir):
    results = tmp_path / "results"
    run = run_cli("run", str(SUITES / "tiny.toml"), "--data-dir", str(data_dir), "--results", str(results))
    assert run.returncode == 0, run.stderr
    commands = suggested_commands(run.stderr)
    assert [c[0] for c in commands] == ["leaderboard", "report"], run.stderr
    env = offline_env(tmp_path)
    for command in [*commands, ["evaluate", str(results / "tiny"), "--metrics", "reconstruction"]]:
        result = subprocess.run([sys.executable, "-m", "harness", *command], capture_output=True, text=True, env=env,
                                cwd=tmp_path, timeout=300)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    # Finishing the suite later (a new run, --rerun) needs no --data-dir either.
    rerun = subprocess.run([sys.executable, "-m", "harness", "run", str(SUITES / "tiny.toml"), "--results",
                            str(results), "--rerun", "vae"], capture_output=True, text=True, env=env, cwd=REPO,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert not (tmp_path / "cache" / "harness").exists()  # nothing was downloaded or looked up there
    assert (results / "tiny" / "report.html").exists()


def readme_install_lines() -> tuple[str, str]:
    """The README's CPU torch line and its install-and-run line, verbatim."""
    readme = (REPO / "README.md").read_text()
    quick = readme[readme.index("## Quick start"):readme.index("## Reference results")]
    cpu = next(line.split("#")[0].strip() for line in quick.splitlines() if "whl/cpu" in line)
    install = next(line for line in quick.splitlines() if line.startswith("pip install -e"))
    return cpu, install


@pytest.mark.slow
def test_readme_quick_start_in_a_fresh_virtual_environment(tmp_path, data_dir):
    """The README's CPU line and its install line verbatim in a new venv (the tiny suite instead of
    the 3-minute quickstart), then the suggested commands offline with the venv's Python."""
    cpu, install = readme_install_lines()
    assert cpu == "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    install_only, run_command = install.split(" && ")
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    # PIP_NO_COMPILE: pip skips byte-compiling torch's thousands of modules (Python compiles what it
    # imports anyway); PIP_RETRIES=0: where PyTorch's index is unreachable (CI), pip falls back to the
    # local one at once instead of after 90 s of retries. The lines themselves are the README's, verbatim.
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(environment),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_COMPILE": "1", "PIP_RETRIES": "0"}
    env.pop("PYTHONPATH", None)
    for line in (cpu, install_only):
        done = subprocess.run(line, shell=True, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
        assert done.returncode == 0, f"{line}: {done.stderr[-3000:]}"
    python = str(bin_dir / "python")
    check = subprocess.run([python, "-c", "import torch, harness; print(torch.__version__, harness.__file__)"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert check.returncode == 0 and "+cpu" in check.stdout, check.stdout + check.stderr

    results = tmp_path / "results"
    command = run_command.replace("suites/quickstart.toml", "suites/tiny.toml").replace("../shared/data", str(data_dir))
    run = subprocess.run(f"{command} --results {results}", shell=True, capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    offline = {**offline_env(tmp_path), "PATH": env["PATH"], "VIRTUAL_ENV": str(environment)}
    for suggested in suggested_commands(run.stderr):
        result = subprocess.run([python, "-m", "harness", *suggested], capture_output=True, text=True, env=offline,
                                cwd=tmp_path, timeout=300)
        assert result.returncode == 0, f"{suggested}: {result.stderr[-2000:]}"


@pytest.mark.slow
def test_committed_launch_configuration_starts_two_cpu_processes_without_a_warning(tmp_path, data_dir):
    result = subprocess.run(
        ["accelerate", "launch", "--config_file", str(REPO / "launch" / "cpu-2-processes.yaml"), "-m", "harness",
         "run", str(SUITES / "tiny.toml"), "--data-dir", str(data_dir), "--results", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env={k: v for k, v in os.environ.items() if k != "ACCELERATE_USE_CPU"})  # the file alone says "CPU"
    assert result.returncode == 0, result.stderr[-3000:]
    assert "were not passed to `accelerate launch`" not in result.stderr
    records = [json.loads(path.read_text()) for path in (tmp_path / "tiny").glob("*/run.json")]
    assert sorted(r["process_index"] for r in records) == [0, 1] and {r["launch_processes"] for r in records} == {2}
    # The file's `mixed_precision: 'no'` does not override the suite's auto: the same precision and
    # configurations as one plain process would train.
    from harness import pipeline
    from harness.execution.hardware import auto_precision

    hashes = {run.id: run.config_hash for run in pipeline.load(SUITES / "tiny.toml").runs}
    assert {r["mixed_precision"] for r in records} == {auto_precision()[0]}
    assert {r["id"]: r["config_hash"] for r in records} == hashes


def test_every_launch_configuration_is_one_accelerate_reads():
    from accelerate.commands.config.config_args import ClusterConfig

    for path in sorted((REPO / "launch").glob("*.yaml")):
        config = ClusterConfig.from_yaml_file(path)
        assert config.num_processes >= 1 and config.compute_environment.value == "LOCAL_MACHINE", path


def test_the_headline_suite_has_no_committed_results_where_its_runs_write(tmp_path):
    """`accelerate launch -m harness run suites/gan_vs_vae.toml` in a fresh clone must train, not
    find the committed reference complete: nothing is tracked under results/gan_vs_vae, and the
    reference in reference/gan_vs_vae is read by compare from where it is."""
    tracked = subprocess.run(["git", "ls-files", "results/gan_vs_vae", "reference/gan_vs_vae/suite.json"],
                             capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
    assert tracked == ["reference/gan_vs_vae/suite.json"]
    compared = run_cli("compare", str(REPO / "reference" / "gan_vs_vae"), str(REPO / "reference" / "gan_vs_vae"),
                       "--metrics", "fid", "--format", "csv", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert "vae-final" in compared.stdout
