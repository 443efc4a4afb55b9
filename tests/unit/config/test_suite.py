"""Suite parsing, expansion and validation (including a collection of broken suites)."""

from pathlib import Path

import pytest

from harness.core.errors import SuiteError
from harness.config.expansion import load_suite
from tests.conftest import SUITES, run_cli

VALID = """
[suite]
name = "s"
dataset = "mnist"
seeds = [0, 1]

[defaults]
epochs = 2
[defaults.mlp_gan]
latent_dim = 32

[[run]]
name = "gan"
model = "mlp_gan"
[run.matrix]
lr = [0.001, 0.0002]
generator_hidden = [[64], [64, 128]]

[[run]]
name = "vae"
model = "mlp_vae"
epochs = 5
"""


def write(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_expansion_crosses_matrix_and_seeds(tmp_path):
    suite = load_suite(write(tmp_path, VALID))
    ids = [r.id for r in suite.runs]
    assert ids == [
        "gan-lr0.001-generator_hidden64-s0", "gan-lr0.001-generator_hidden64-s1",
        "gan-lr0.001-generator_hidden64x128-s0", "gan-lr0.001-generator_hidden64x128-s1",
        "gan-lr0.0002-generator_hidden64-s0", "gan-lr0.0002-generator_hidden64-s1",
        "gan-lr0.0002-generator_hidden64x128-s0", "gan-lr0.0002-generator_hidden64x128-s1",
        "vae-s0", "vae-s1",
    ]
    gan = suite.runs[2]
    assert gan.model_config.lr == 0.001 and gan.model_config.generator_hidden == [64, 128]
    assert gan.model_config.latent_dim == 32  # from [defaults.mlp_gan]
    assert gan.training.epochs == 2  # from [defaults]
    assert suite.runs[-1].training.epochs == 5  # a run's own key beats [defaults]
    assert suite.runs[-1].model_config.latent_dim == 64  # [defaults.mlp_gan] does not leak into the VAE


def test_hash_covers_resolved_config_only(tmp_path):
    a = load_suite(write(tmp_path, VALID, "a.toml")).runs
    # Same configuration spelled differently (explicit default, other suite name): same hash.
    b = load_suite(write(tmp_path, VALID.replace('name = "s"', 'name = "other"').replace(
        'epochs = 5', 'epochs = 5\nlr = 0.001'), "b.toml")).runs
    assert [r.config_hash for r in a] == [r.config_hash for r in b]
    assert len({r.config_hash for r in a}) == len(a)  # every run differs in something (seed at least)
    mixed = load_suite(write(tmp_path, VALID, "c.toml"), mixed_precision="bf16").runs
    assert mixed[0].config_hash != a[0].config_hash
    assert mixed[0].resolved_config()["mixed_precision"] == "bf16"


def test_suite_level_matrix_applies_to_every_run(tmp_path):
    text = VALID.replace("[[run]]\nname = \"gan\"", "[matrix]\nbatch_size = [32, 64]\n\n[[run]]\nname = \"gan\"", 1)
    suite = load_suite(write(tmp_path, text))
    assert len(suite.runs) == 2 * 2 * 2 * 2 + 2 * 2
    assert {r.training.batch_size for r in suite.runs} == {32, 64}


def test_shipped_suites_are_valid():
    counts = {p.stem: (len(load_suite(p).runs), len(load_suite(p).search_groups())) for p in SUITES.glob("*.toml")}
    assert counts == {"gan_vs_vae": (12, 0), "quickstart": (4, 0), "gan_lr_sweep": (5, 0), "tiny": (2, 0),
                      # the zoo: 10 families x trials with the first seed, then each family's best trial
                      "zoo_quick": (30, 10), "zoo_mnist": (40, 10), "zoo_fashion": (40, 10)}
    assert len(load_suite(SUITES / "zoo_mnist.toml").later_seeds({f: 0 for f in ("vae", "iwae")})) == 4
    sweep = load_suite(SUITES / "gan_lr_sweep.toml").runs
    assert [r.model_config.lr for r in sweep] == [2e-3, 5e-4, 2e-4, 1e-4, 5e-5]
    study = {r.name: r for r in load_suite(SUITES / "gan_vs_vae.toml").runs if r.seed == 0}
    assert study["gan-final"].training.epochs == 100 and study["gan-baseline"].training.epochs == 50
    assert study["vae-baseline"].training.epochs == 30 and study["vae-final"].model_config.activation == "leaky_relu"


def test_only_selects_by_name_id_or_glob():
    suite = load_suite(SUITES / "gan_vs_vae.toml")
    assert len(suite.select(["gan-final"])) == 3
    assert [r.id for r in suite.select(["vae-*-s1"])] == ["vae-baseline-s1", "vae-final-s1"]
    with pytest.raises(SuiteError, match="'nope' matches no run"):
        suite.select(["nope"])


# Each broken suite: (what is wrong, TOML text, fragments the single report must contain).
BROKEN = [
    ("syntax", "[suite\nname = 1", ["TOML syntax error", "line 1"]),
    ("typo in a training key", VALID.replace("epochs = 5", "epocs = 5"), ["run[1].epocs", "did you mean 'epochs'"]),
    ("typo in a model key", VALID.replace("epochs = 5", "latnt_dim = 5"), ["run[1].latnt_dim", "'latent_dim'"]),
    ("wrong type", VALID.replace("epochs = 5", 'epochs = "5"'), ["run[1].epochs", "integer", "'5'"]),
    ("float for int", VALID.replace("epochs = 5", "epochs = 5.5"), ["run[1].epochs", "integer"]),
    ("zero epochs", VALID.replace("epochs = 5", "epochs = 0"), ["run[1].epochs", "greater than 0"]),
    ("negative lr", VALID.replace("epochs = 5", "lr = -0.1"), ["run[1].lr", "greater than 0"]),
    ("zero lr in matrix", VALID.replace("lr = [0.001, 0.0002]", "lr = [0.001, 0.0]"), ["run[0].matrix.lr[1]", "greater than 0"]),
    ("empty matrix list", VALID.replace("lr = [0.001, 0.0002]", "lr = []"), ["run[0].matrix.lr", "non-empty list"]),
    ("empty seeds", VALID.replace("seeds = [0, 1]", "seeds = []"), ["suite.seeds", "at least 1"]),
    ("duplicate seeds", VALID.replace("seeds = [0, 1]", "seeds = [1, 1]"), ["suite.seeds", "unique"]),
    ("unknown model", VALID.replace('model = "mlp_vae"', 'model = "mlp_vea"'), ["run[1].model", "unknown model 'mlp_vea'"]),
    ("unknown dataset", VALID.replace('dataset = "mnist"', 'dataset = "cifar"'), ["suite.dataset", "unknown dataset"]),
    ("unknown activation", VALID.replace("epochs = 5", 'activation = "sigmoidal"'), ["run[1].activation", "'relu'"]),
    ("duplicate run names", VALID.replace('name = "vae"', 'name = "gan"'), ["run[1].name", "duplicate run name"]),
    ("matrix key the model does not take", VALID.replace("lr = [0.001, 0.0002]", "encoder_hidden = [[8]]"),
     ["run[0].matrix.encoder_hidden", "unknown key", "mlp_gan"]),
    ("empty hidden list", VALID.replace("epochs = 5", "encoder_hidden = []"), ["run[1].encoder_hidden", "at least 1"]),
    ("bad betas", VALID.replace("epochs = 5", "betas = [0.9, 1.5]"), ["run[1].betas[1]", "less than 1"]),
    ("missing suite table", VALID.replace("[suite]", "[suit]"), ["suit: unknown key", "suite: missing [suite] table"]),
    ("no runs", VALID.split("[[run]]")[0], ["run: expected one or more [[run]] tables"]),
    ("bad mixed precision", VALID.replace("seeds = [0, 1]", 'seeds = [0]\nmixed_precision = "fp8"'), ["suite.mixed_precision: unknown mixed precision 'fp8'", "bf16"]),
    ("unsafe run name", VALID.replace('name = "vae"', 'name = "../vae"'), ["run[1].name", "letters, digits"]),
    ("model key in [defaults]", VALID.replace("[defaults]\nepochs = 2", "[defaults]\nepochs = 2\nlr = 0.1"),
     ["defaults.lr", "[defaults.<model>]"]),
    ("unknown key in [defaults.<model>]", VALID.replace("latent_dim = 32", "latent_dimm = 32"), ["defaults.mlp_gan.latent_dimm"]),
]


@pytest.mark.parametrize("text,fragments", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_suite_is_reported_precisely(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert all(line.startswith(f"{path}: ") for line in message.splitlines())


def test_all_problems_of_a_file_are_reported_together(tmp_path):
    text = VALID.replace("epochs = 5", "epocs = 5\nlr = 0").replace('dataset = "mnist"', 'dataset = "x"')
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, text))
    assert len(info.value.problems) == 3, info.value.problems


def test_cli_validate_exit_codes_and_writes_nothing(tmp_path):
    bad = write(tmp_path, VALID.replace("epochs = 5", "epocs = 5"), "bad.toml")
    result = run_cli("validate", str(SUITES / "tiny.toml"), str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "run[1].epocs" in result.stderr and "ok" in result.stdout
    # `run` refuses the same file with the same message before writing anything.
    result = run_cli("run", str(bad), "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 2 and "run[1].epocs" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_cli_dry_run_prints_the_run_table(tmp_path):
    result = run_cli("run", str(SUITES / "gan_lr_sweep.toml"), "--dry-run", "--results", str(tmp_path / "r"),
                     env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for lr in ("0.002", "0.0005", "0.0002", "0.0001", "5e-05"):
        assert f"gan-final-lr{lr}-s0" in result.stdout
    assert not (tmp_path / "r").exists()


def test_a_misspelt_name_gets_the_close_one_and_an_unrelated_one_the_choices(tmp_path):
    with pytest.raises(SuiteError) as typo:
        load_suite(write(tmp_path, VALID.replace('model = "mlp_vae"', 'model = "mlp_vea"')))
    assert "unknown model 'mlp_vea' (did you mean 'mlp_vae'?)" in str(typo.value)
    with pytest.raises(SuiteError) as unrelated:
        load_suite(write(tmp_path, VALID.replace('model = "mlp_vae"', 'model = "diffusion"')))
    assert "unknown model 'diffusion'; expected one of: " in str(unrelated.value)
    assert "mlp_vae" in str(unrelated.value)


def test_an_unknown_metric_is_one_short_line_never_the_whole_list():
    """`leaderboard --metrics fdi` used to print all 39 column names."""
    folder = SUITES.parent / "reference" / "gan_vs_vae"
    typo = run_cli("leaderboard", str(folder), "--metrics", "fdi")
    assert typo.returncode == 2 and typo.stderr.strip().splitlines() == [
        f"error: unknown metric 'fdi' (did you mean 'fid'?) (in {folder})"], typo.stderr
    unrelated = run_cli("leaderboard", str(folder), "--metrics", "zzzz")
    assert unrelated.returncode == 2 and "`python -m harness list` shows all" in unrelated.stderr
    assert "reconstruction_mse" not in unrelated.stderr
