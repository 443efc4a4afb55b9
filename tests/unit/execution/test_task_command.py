"""A cluster task runs `harness run` again in a fresh process: it must be given the same code and
trackers the submitting command was (the suite's own plugins load themselves from the suite)."""

import sys
from pathlib import Path

from harness.config.expansion import load_suite
from harness.core import plugins
from harness.execution.executors import ClusterOptions, task_command

SUITE = Path(__file__).resolve().parents[3] / "suites" / "tiny.toml"


def test_a_task_gets_the_plugins_and_trackers_of_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setattr(plugins, "_LOADED", {})
    (tmp_path / "extra_metric.py").write_text("VALUE = 1\n")
    plugins.load_plugins([str(tmp_path / "extra_metric.py")], None, "--plugin")
    plugins.load_plugins(["json"], None, "suite elsewhere.toml")  # a suite's: not passed on
    suite = load_suite(SUITE)
    command = task_command(suite, tmp_path / "results", suite.runs[0], ClusterOptions(log_with=["tensorboard"]), False)
    assert command[:4] == [sys.executable, "-m", "harness", "run"] and command[4] == str(SUITE)
    assert command[command.index("--plugin") + 1] == str(tmp_path / "extra_metric.py")
    assert command.count("--plugin") == 1
    assert command[command.index("--log-with") + 1:command.index("--log-with") + 2] == ["tensorboard"]


def test_a_plugin_is_imported_once_and_hashed_by_its_source(tmp_path, monkeypatch):
    monkeypatch.setattr(plugins, "_LOADED", {})
    source = tmp_path / "counted.py"
    source.write_text("import builtins\nbuiltins.harness_counted = getattr(builtins, 'harness_counted', 0) + 1\n")
    first = plugins.load_plugin("counted.py", tmp_path, "suite a.toml")
    second = plugins.load_plugin(str(source), None, "--plugin")
    import builtins
    import hashlib

    assert first is second and builtins.harness_counted == 1
    assert first.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert plugins.plugin_hashes() == {first.module: first.sha256}
    del builtins.harness_counted
