"""Every extension point from outside harness/: a dataset, a GAN objective, a VAE likelihood, a
metric with its own settings, a strategy and an executor, registered by tests/extensions/toy_plugins.py
and used through the command line in this process: validate, list, run (with the strategy, then
with the executor), status, leaderboard, report, compare, evaluate."""

import json

import pytest

from harness.cli import main
from tests.extensions import toy_plugins

SUITE = """
[suite]
name = "plugins"
dataset = "toy-stripes"
seeds = [0]
strategy = "reverse_order"

[defaults]
epochs = 1
batch_size = 32

[[run]]
name = "gan"
model = "mlp_gan"
objective = "wide_hinge"
latent_dim = 4
generator_hidden = [16]
discriminator_hidden = [16]

[[run]]
name = "vae"
model = "mlp_vae"
likelihood = "laplace"
latent_dim = 4
encoder_hidden = [16]
decoder_hidden = [16]

[evaluation]
metrics = ["pixel_spread", "likelihood"]
num_samples = 32
spread_images = 16
spread_quantile = 0.9
likelihood_images = 8
iwae_samples = 4
"""


@pytest.fixture
def plugins(tmp_path):
    toy_plugins.write_stripes(tmp_path / "data" / "toy-stripes")
    toy_plugins.register()
    suite = tmp_path / "plugins.toml"
    suite.write_text(SUITE)
    try:
        yield suite, tmp_path / "data", tmp_path / "results"
    finally:
        toy_plugins.unregister()


def test_plugin_names_validate_and_their_mistakes_are_named(plugins, tmp_path, capsys):
    suite, _, _ = plugins
    assert main(["validate", str(suite)]) == 0
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name in ("wide_hinge", "laplace", "reverse_order", "inline", "spread_quantile", "toy-stripes"):
        assert name in listed
    bad = tmp_path / "bad.toml"
    bad.write_text(SUITE.replace("spread_quantile = 0.9", "spread_quantile = 1.5")
                   .replace('objective = "wide_hinge"', 'objective = "wide_hing"'))
    assert main(["validate", str(bad)]) == 2
    errors = capsys.readouterr().err
    assert "evaluation.spread_quantile" in errors and "unknown GAN objective 'wide_hing'" in errors
    bad.write_text(SUITE.replace("spread_images = 16", "spread_images = 65"))
    assert main(["validate", str(bad)]) == 2  # more than the 64 test images of the plugin dataset
    assert "evaluation.spread_images" in capsys.readouterr().err
    toy_plugins.unregister()
    toy_plugins.register()  # registration is repeatable after removal


def test_plugins_train_evaluate_and_report_through_the_command_line(plugins, capsys):
    suite, data, results = plugins
    assert main(["run", str(suite), "--results", str(results), "--data-dir", str(data)]) == 0
    folder = results / "plugins"
    launch_records = {run: json.loads((folder / run / "run.json").read_text()) for run in ("gan-s0", "vae-s0")}
    assert {r["strategy"] for r in launch_records.values()} == {"reverse_order"}
    assert launch_records["vae-s0"]["started_at"] <= launch_records["gan-s0"]["started_at"]  # last run first
    rows = {run: json.loads((folder / run / "metrics_row.json").read_text()) for run in ("gan-s0", "vae-s0")}
    assert rows["gan-s0"]["spread_gap"] >= 0 and rows["gan-s0"]["spread_images_used"] == 16
    assert rows["vae-s0"]["elbo"] < 0 and rows["gan-s0"]["elbo"] == "n/a"
    metrics = json.loads((folder / "vae-s0" / "metrics.json").read_text())
    assert json.dumps(metrics).count('"quantile": 0.9') == 1  # the metric's own settings, recorded with it

    capsys.readouterr()
    for command in (["status", str(folder)], ["leaderboard", str(folder)], ["report", str(folder)],
                    ["compare", str(folder), str(folder)]):
        assert main(command) == 0, command
    out = capsys.readouterr().out
    assert "pixel spread gap" in out
    assert "pixel spread gap" in (folder / "report.md").read_text()

    assert main(["evaluate", str(folder), "--data-dir", str(data), "--metrics", "pixel_spread"]) == 0

    # The readers work from the store alone: with the plugins gone from this process (another
    # machine, a colleague without the plugin file), the results folder still reads.
    toy_plugins.unregister()
    capsys.readouterr()
    for command in (["status", str(folder)], ["leaderboard", str(folder)], ["compare", str(folder), str(folder)],
                    ["report", str(folder), "--output", str(folder.parent / "elsewhere")]):
        assert main(command) == 0, (command, capsys.readouterr().err)
    report = (folder.parent / "elsewhere" / "report.md").read_text()
    assert "2 configurations (gan, vae) on toy-stripes" in report and "IWAE bound" in report
    assert "gan-s0" in capsys.readouterr().out


def test_a_plugin_executor_submits_the_pending_runs(plugins):
    suite, data, results = plugins
    toy_plugins.InProcess.commands.clear()
    assert main(["run", str(suite), "--results", str(results), "--data-dir", str(data), "--executor", "inline"]) == 0
    assert [command[command.index("--only") + 1] for command in toy_plugins.InProcess.commands] == ["gan-s0", "vae-s0"]
    jobs = json.loads((results / "plugins" / "jobs.json").read_text())
    assert {job["executor"] for job in jobs.values()} == {"inline"}
    assert all((results / "plugins" / run / "metrics_row.json").exists() for run in ("gan-s0", "vae-s0"))


def test_a_plugin_feature_space_scores_fid_and_precision_in_its_own_space(plugins):
    suite, data, results = plugins
    suite.write_text(SUITE.replace('metrics = ["pixel_spread", "likelihood"]',
                                   'metrics = ["sample_quality", "precision_recall"]\nfeatures = "pooled_pixels"\n'
                                   'kid_subset_size = 16'))
    assert main(["run", str(suite), "--results", str(results), "--data-dir", str(data), "--only", "gan"]) == 0
    row = json.loads((results / "plugins" / "gan-s0" / "metrics_row.json").read_text())
    assert row["fid"] > 0 and 0 <= row["precision"] <= 1 and row["fid_ae"] == "n/a"
    assert row["features"] == "pooled_pixels" and row["pooled_pixels"] == "avgpool2-v1"
    floor = json.loads((results / "plugins" / "reference" / "metrics.json").read_text())
    assert floor["features"] == "pooled_pixels" and floor["values"]["fid"] < row["fid"]
