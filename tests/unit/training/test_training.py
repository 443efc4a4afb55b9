"""End to end through the CLI: the tiny suite's results on disk, determinism, reruns, divergence."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from harness.execution.hardware import auto_precision
from harness.store import RunFolder
from harness.config.expansion import load_suite
from harness.models import build_model
from tests.conftest import SUITES, run_cli

TINY = SUITES / "tiny.toml"


def test_every_run_leaves_its_files(tiny_results):
    suite = load_suite(TINY, auto_precision=auto_precision)  # as `harness run` resolves "auto" on this host
    assert (tiny_results / "suite.toml").read_text() == TINY.read_text()
    for spec in suite.runs:
        run_dir = tiny_results / spec.id
        config = json.loads((run_dir / "config.json").read_text())
        assert config["config_hash"] == spec.config_hash
        assert config["model_options"] == spec.model_config.resolved()
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "completed" and record["epochs_completed"] == 2
        assert record["num_processes"] == 1 and record["mixed_precision"] == spec.mixed_precision
        assert record["replicas_identical"] is True
        assert record["parameters"]["total"] == sum(v for k, v in record["parameters"].items() if k != "total")
        assert record["versions"]["torch"].startswith("2.")
        history = RunFolder(tiny_results, spec.id).read_history()
        assert [row["epoch"] for row in history] == [1, 2]
        assert all(row["images_per_process"] == [2048] and row["overlapping_images"] == 0 for row in history)
        with Image.open(run_dir / "samples.png") as grid:
            assert grid.format == "PNG" and grid.size == (2 * (8 * 28 + 9 * 2),) * 2
        # no temp file or staging folder survives a finished run
        assert not [p for p in run_dir.rglob("*") if p.name.endswith((".tmp", ".part")) or "checkpoint." in p.name]


def test_weights_and_checkpoint_are_complete(tiny_results, mnist):
    from harness.training.checkpoint import Position, restore
    from harness.execution.data_parallel import DataParallel

    spec = next(r for r in load_suite(TINY, auto_precision=auto_precision).runs if r.model == "mlp_gan")
    run_dir = tiny_results / spec.id
    weights = load_file(run_dir / "weights.safetensors")
    assert set(weights) == set(build_model(spec.model, spec.model_config, mnist.spec.image_shape).state_dict())

    state, position = RunFolder(tiny_results, spec.id).read_checkpoint()
    position = Position.from_json(position)
    assert (position.epoch, position.step, position.config_hash) == (2, 0, spec.config_hash)
    assert [row["epoch"] for row in position.history] == [1, 2]
    # Restoring the checkpoint into a fresh model and optimizers gives the final weights.
    model = build_model(spec.model, spec.model_config, mnist.spec.image_shape)
    strategy = DataParallel("no", "test")
    strategy.prepare(model)
    assert restore(model, strategy, state) is None  # an epoch boundary: no epoch in progress
    restored = model.state_dict()
    assert all(torch.equal(restored[k], weights[k]) for k in weights)
    assert all(len(opt.state_dict()["state"]) for opt in model.optimizers.values())  # Adam moments came back too
    strategy.end_run()


def test_checkpoints_load_without_executing_code(tiny_results, tmp_path):
    """A pickle that would run code in place of state.pt is refused (weights_only), named, and the run starts over."""
    import pickle
    import shutil

    from harness.store import ResultsFileError

    copy = tmp_path / "tiny"
    shutil.copytree(tiny_results, copy)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (copy / "gan-s0" / "checkpoint" / "state.pt").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ResultsFileError, match="state.pt"):
        RunFolder(copy, "gan-s0").read_checkpoint()
    assert not marker.exists()


@pytest.mark.slow
def test_same_seed_gives_identical_weights(tiny_results, tmp_path):
    result = run_cli("run", str(TINY), "--results", str(tmp_path), "--only", "gan")
    assert result.returncode == 0, result.stderr
    first = load_file(tiny_results / "gan-s0" / "weights.safetensors")
    second = load_file(tmp_path / "tiny" / "gan-s0" / "weights.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_rerun_skips_completed_and_refuses_a_changed_configuration(tiny_results, tmp_path):
    root = tiny_results.parent
    result = run_cli("run", str(TINY), "--results", str(root))
    assert result.returncode == 0 and "skipped" in result.stderr
    changed = tmp_path / "tiny.toml"
    changed.write_text(TINY.read_text().replace("epochs = 2", "epochs = 3"))
    stamp = (tiny_results / "gan-s0" / "run.json").stat().st_mtime
    result = run_cli("run", str(changed), "--results", str(root))
    assert result.returncode == 2
    assert "trained with another configuration" in result.stderr and "--force" in result.stderr
    assert (tiny_results / "gan-s0" / "run.json").stat().st_mtime == stamp  # nothing touched


@pytest.mark.slow
def test_diverging_run_is_recorded_and_others_finish(tmp_path):
    suite = tmp_path / "div.toml"
    suite.write_text(TINY.read_text().replace('name = "tiny"', 'name = "div"').replace(
        "decoder_hidden = [32]", "decoder_hidden = [32]\nlr = 1000.0"))
    result = run_cli("run", str(suite), "--results", str(tmp_path / "r"))
    assert result.returncode == 1
    assert "diverged vae-s0" in result.stderr and "non-finite" in result.stderr
    vae = json.loads((tmp_path / "r" / "div" / "vae-s0" / "run.json").read_text())
    gan = json.loads((tmp_path / "r" / "div" / "gan-s0" / "run.json").read_text())
    assert vae["status"] == "diverged" and gan["status"] == "completed"
    assert not (tmp_path / "r" / "div" / "vae-s0" / "weights.safetensors").exists()


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from harness.store import atomic_write, write_text

    target = tmp_path / "record.json"
    write_text(target, "old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def _one_step(model_name: str, options: dict, images: torch.Tensor, threads: int) -> tuple[list, list]:
    """One training step of a fresh seeded model on `threads` threads: (the first backward's loss
    and gradients, computed before any update; every loss and gradient of the step)."""
    from harness.execution.sharding import ShardedNoise

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = build_model(model_name, options, (1, 28, 28))
        backwards: list[list[torch.Tensor]] = []

        def backward(loss: torch.Tensor) -> None:
            loss.backward()
            backwards.append([loss.detach().reshape(1), *(p.grad.clone() for net in model.networks.values()
                                                          for p in net.parameters() if p.grad is not None)])

        noise = ShardedNoise(0, 0, len(images), 0, 1, torch.device("cpu"))
        losses = model.train_step(images, noise, backward)
        return backwards[0], [*(value.reshape(1) for value in losses.values()), *(t for b in backwards for t in b)]
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("model_name, options", [
    ("mlp_gan", {"generator_hidden": [256, 512, 1024], "discriminator_hidden": [1024, 512, 256]}),  # the tuned GAN
    ("mlp_vae", {}),  # the study's VAE: its loss sums 64 x 784 numbers, which torch splits among threads
])
def test_one_step_is_bit_identical_at_one_thread_count_and_equal_to_rounding_across_them(mnist, model_name, options):
    """README, "Reproducibility, precisely": the same thread count gives the same bits; another
    thread count adds in another order, so a step's first gradients agree to float rounding (1e-5).
    (Compared before any update: after one, Adam's first step, about lr x sign(gradient), can turn
    a rounding difference in a near-zero gradient into a whole step, on any host.)"""
    images = mnist.train_images[:64].float().div(255)
    first, everything = _one_step(model_name, options, images, 2)
    again = _one_step(model_name, options, images, 2)[1]
    assert len(everything) == len(again) and all(torch.equal(a, b) for a, b in zip(everything, again))
    one_thread = _one_step(model_name, options, images, 1)[0]
    assert len(one_thread) == len(first) > 1
    for a, b in zip(one_thread, first):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6 * float(b.abs().max()))
