"""A user's code loaded from every door: [suite] plugins, --plugin (file or module), an installed
package's entry point; broken and missing plugins; what runs record and what readers flag.

Each check runs the command line in a fresh process (a plugin registers into the process that
imports it), on a torch-free plugin so the light commands stay light with one."""

import hashlib
import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, run_cli

# A torch-free plugin: a GAN architecture whose networks are built (importing torch) only when trained.
PLUGIN = '''
from pydantic import Field, PositiveInt
from harness.models import register_model
from harness.models.options import GANOptions


class PluginGANOptions(GANOptions):
    width: PositiveInt = Field(16, description="hidden units (a plugin's option)")


@register_model("{name}", PluginGANOptions, "a plugin's GAN")
def build(options, image_shape):
    import math
    from torch import nn
    pixels = math.prod(image_shape)
    return {{"generator": nn.Sequential(nn.Linear(options.latent_dim, options.width), nn.ReLU(),
                                       nn.Linear(options.width, pixels), nn.Tanh(), nn.Unflatten(1, image_shape)),
            "discriminator": nn.Sequential(nn.Flatten(), nn.Linear(pixels, options.width), nn.LeakyReLU(0.2),
                                           nn.Linear(options.width, 1))}}
'''


def suite_text(model: str, plugins: list[str] | None = None, seeds: str = "[0]") -> str:
    listed = f"plugins = {json.dumps(plugins)}\n" if plugins is not None else ""
    return textwrap.dedent(f"""\
        [suite]
        name = "plugged"
        dataset = "mnist"
        seeds = {seeds}
        {listed}
        [defaults]
        epochs = 1
        train_subset = 256

        [[run]]
        name = "mine"
        model = "{model}"
        width = 8
        latent_dim = 4

        [[run]]
        name = "builtin"
        model = "mlp_gan"
        latent_dim = 4
        generator_hidden = [8]
        discriminator_hidden = [8]

        [evaluation]
        metrics = ["sample_quality"]
        num_samples = 200
        kid_subset_size = 100
        """)


def test_a_suite_names_its_plugin_file_relative_to_itself(tmp_path):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "models").mkdir()
    (tmp_path / "suites" / "models" / "my_gan.py").write_text(PLUGIN.format(name="my_gan"))
    (tmp_path / "suites" / "s.toml").write_text(suite_text("my_gan", ["models/my_gan.py"]))
    done = run_cli("validate", "suites/s.toml", cwd=tmp_path)
    assert done.returncode == 0 and "ok suites/s.toml: 2 runs" in done.stdout, done.stderr
    dry = run_cli("run", "suites/s.toml", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "width=8" in dry.stdout, dry.stderr


def test_plugin_option_takes_a_file_or_a_module_on_every_light_command(tmp_path):
    (tmp_path / "labgans").mkdir()
    (tmp_path / "labgans" / "__init__.py").write_text(PLUGIN.format(name="lab_gan"))
    (tmp_path / "solo.py").write_text(PLUGIN.format(name="solo_gan"))
    (tmp_path / "s.toml").write_text(suite_text("lab_gan"))
    unknown = run_cli("validate", "s.toml", cwd=tmp_path)  # unknown without the plugin, and says how to load it
    assert unknown.returncode == 2 and "unknown model 'lab_gan'" in unknown.stderr
    assert "[suite] plugins or --plugin (docs/your-model.md)" in unknown.stderr
    for plugin in ("labgans", "./solo.py"):
        listing = run_cli("list", "--plugin", plugin, cwd=tmp_path)
        assert listing.returncode == 0, listing.stderr
        assert ("model lab_gan" if plugin == "labgans" else "model solo_gan") in listing.stdout
    assert run_cli("--plugin", "labgans", "validate", "s.toml", cwd=tmp_path).returncode == 0
    assert run_cli("validate", "s.toml", "--plugin", "labgans", cwd=tmp_path).returncode == 0


def test_an_installed_package_offers_its_models_through_an_entry_point(tmp_path):
    """An installed distribution as importlib.metadata finds it: a .dist-info with entry_points.txt."""
    site = tmp_path / "site"
    (site / "mylab").mkdir(parents=True)
    (site / "mylab" / "__init__.py").write_text("")
    (site / "mylab" / "models.py").write_text(PLUGIN.format(name="lab_entry_gan"))
    info = site / "mylab-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[harness.plugins]\nmylab = mylab.models\n")
    (tmp_path / "s.toml").write_text(suite_text("lab_entry_gan"))
    env = {"PYTHONPATH": f"{site}:{REPO}"}
    done = run_cli("validate", "s.toml", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    listing = run_cli("list", cwd=tmp_path, env=env)
    assert "model lab_entry_gan" in listing.stdout


def test_a_broken_plugin_is_one_line_and_its_own_traceback_before_anything_is_written(tmp_path):
    (tmp_path / "broken.py").write_text("import math\n\n\ndef helper():\n    return undefined_name\n\n\nhelper()\n")
    (tmp_path / "s.toml").write_text(suite_text("mlp_gan", ["broken.py"]))
    done = run_cli("run", "s.toml", "--results", "results", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: s.toml: suite.plugins: plugin broken.py")
    assert "NameError: name 'undefined_name' is not defined" in lines[0]
    assert f'File "{tmp_path / "broken.py"}", line 5, in helper' in done.stderr
    assert "importlib" not in done.stderr and "Traceback" not in done.stderr  # no harness internals
    assert not (tmp_path / "results").exists()

    missing = run_cli("validate", "s.toml", "--plugin", "nothere.py", cwd=tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "plugin nothere.py (--plugin): no such file" in missing.stderr
    module = run_cli("list", "--plugin", "no_such_lab.models", cwd=tmp_path)
    assert module.returncode == 2 and "no module named 'no_such_lab.models'" in module.stderr


def test_a_plugin_that_takes_a_builtin_name_is_told_which(tmp_path):
    (tmp_path / "clash.py").write_text(PLUGIN.format(name="mlp_gan"))
    done = run_cli("list", "--plugin", "clash.py", cwd=tmp_path)
    assert done.returncode == 2 and "model 'mlp_gan' is registered twice" in done.stderr.splitlines()[0]


def test_light_commands_stay_light_with_a_plugin(tmp_path):
    (tmp_path / "my_gan.py").write_text(PLUGIN.format(name="my_gan"))
    (tmp_path / "s.toml").write_text(suite_text("my_gan", ["my_gan.py"]))
    probe = ("import sys\nfrom harness.cli import main\n"
             "assert main(['validate', 's.toml']) == 0\nassert main(['list', '--plugin', 'my_gan.py']) == 0\n"
             "print('HEAVY:', sorted(m for m in ('torch', 'accelerate') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("HEAVY: []")


@pytest.mark.slow
def test_runs_record_their_plugin_code_and_readers_flag_code_that_differs(tmp_path, data_dir):
    plugin = tmp_path / "my_gan.py"
    plugin.write_text(PLUGIN.format(name="my_gan"))
    (tmp_path / "s.toml").write_text(suite_text("my_gan", ["my_gan.py"], seeds="[0, 1]"))
    first = run_cli("run", "s.toml", "--results", "results", "--only", "mine-s0", "builtin-s0", "builtin-s1",
                    cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    record = json.loads((tmp_path / "results" / "plugged" / "mine-s0" / "run.json").read_text())
    assert record["plugins"] == {"my_gan": hashlib.sha256(plugin.read_bytes()).hexdigest()}
    suite_record = json.loads((tmp_path / "results" / "plugged" / "suite.json").read_text())
    assert suite_record["plugins"][0]["module"] == "my_gan" and suite_record["plugins"][0]["source"] == str(plugin)

    plugin.write_text(PLUGIN.format(name="my_gan") + "\n# an edit: other code, same configuration\n")
    second = run_cli("run", "s.toml", "--results", "results", "--only", "mine-s1", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    board = run_cli("leaderboard", "results/plugged", "--format", "json", cwd=tmp_path)
    rows = {r["configuration"]: r for r in json.loads(board.stdout)["configurations"]}
    assert "plugin my_gan code" in rows["mine"]["scored_differently"]
    assert rows["builtin"]["scored_differently"] == ""  # trained beside the plugin, never flagged by it

    # compare names the plugin code as a setting that differs between two folders
    (tmp_path / "again").mkdir()
    again = run_cli("run", str(tmp_path / "s.toml"), "--results", str(tmp_path / "again"), "--only", "mine-s0",
                    cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    plugin.write_text(PLUGIN.format(name="my_gan"))  # back to the first code: its hash matches results/
    compared = run_cli("compare", "results/plugged", "again/plugged", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert "plugin my_gan code (sha256)" in compared.stdout

    # without the plugin's code the folder still reads, and says what is missing
    plugin.rename(tmp_path / "moved.py")
    for command in (["leaderboard", "results/plugged"], ["status", "results/plugged"], ["report", "results/plugged"]):
        done = run_cli(*command, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
    board = run_cli("leaderboard", "results/plugged", cwd=tmp_path)
    assert "note: plugin my_gan.py (recorded by the suite) does not import here" in board.stderr
