"""The results store: the only module that knows file names and layouts, and reads or writes them.

    <results>/<suite>/suite.toml                  copy of the suite file that produced the runs
    <results>/<suite>/suite.json                  the suite's settings and its expanded runs
    <results>/<suite>/reference/                  the real-data floor and the test/train feature statistics
    <results>/<suite>/report.{md,html}, leaderboard.{md,csv}, charts/   written by `harness report`
    <results>/<suite>/launch.json                 the current launch's id (every node checks it sees this folder)
    <results>/<suite>/locks/<run id>.json        who trains the run: launch, host, pid, progress (RunLock)
    <results>/<suite>/jobs.json, jobs/            cluster jobs submitted for runs (--executor), submitit's logs
    <results>/<suite>/wandb/, mlruns/             W&B offline runs, the MLflow file store (`log_with`)
    <results>/<suite>/<run id>/config.json        resolved configuration + its hash        (RunConfig)
    <results>/<suite>/<run id>/run.json           status, times, parameters, device, versions (RunRecord)
    <results>/<suite>/<run id>/history.jsonl      one line per epoch: losses, images/s, wall time
    <results>/<suite>/<run id>/weights.safetensors    final weights of every network
    <results>/<suite>/<run id>/samples.png        8x8 samples from a fixed latent batch
    <results>/<suite>/<run id>/checkpoint/        last complete end-of-epoch training state
    <results>/<suite>/<run id>/metrics.json       every metric: values, settings, wall time (or n/a + why)
    <results>/<suite>/<run id>/metrics_row.json   one flat row per run, what aggregation reads (MetricsRow)
    <results>/<suite>/<run id>/metrics.partial.json  the metrics an interrupted evaluation finished
    <results>/<suite>/<run id>/feature_stats.safetensors  mean and covariance of the samples' features
    <results>/<suite>/<run id>/figures.safetensors  what the report draws: reconstructions, interpolations,
                                                  class histogram (made once, at evaluation)
    <results>/<suite>/<run id>/tensorboard/       TensorBoard event files (`log_with = ["tensorboard"]`)

Every write is atomic (a kill never leaves a half-written file). Every read returns a typed
object or raises `ResultsFileError` naming the file, so a corrupt file is one clear message,
never a traceback from whoever happened to read it first. Torch is imported only by the
methods that read or write tensors, so the light commands stay light.
"""

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError, ResultsFileError, closest_name
from harness.core.files import UMASK, atomic_write, read_json, write_json, write_text
from harness.core.statuses import STATUS_COMPLETED
from harness.store.records import MetricsRow, ReferenceRecord, RunConfig, RunLock, RunRecord, SuiteRecord

if TYPE_CHECKING:
    import numpy as np
    import torch


class RunFolder:
    """One run's folder and every file in it."""

    def __init__(self, suite_dir: Path, run_id: str) -> None:
        self.id = run_id
        self.dir = Path(suite_dir) / run_id
        self.config_file = self.dir / "config.json"
        self.record_file = self.dir / "run.json"
        self.history_file = self.dir / "history.jsonl"
        self.weights_file = self.dir / "weights.safetensors"
        self.samples_png = self.dir / "samples.png"
        self.progress_dir = self.dir / "progress"  # epoch-NNNN.png every `sample_every` epochs
        self.checkpoint = self.dir / "checkpoint"
        self.checkpoint_staging = self.dir / "checkpoint.tmp"
        self.error_log = self.dir / "error.log"
        self.metrics_file = self.dir / "metrics.json"
        self.metrics_row_file = self.dir / "metrics_row.json"
        self.partial_metrics_file = self.dir / "metrics.partial.json"
        self.feature_stats_file = self.dir / "feature_stats.safetensors"
        self.figures_file = self.dir / "figures.safetensors"

    def __repr__(self) -> str:
        return f"RunFolder({self.dir})"

    def start_fresh(self) -> None:
        """Remove whatever an earlier attempt left (a fresh start or --force) and make the folder."""
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)

    # config and record
    def write_config(self, config: RunConfig) -> None:
        config.write(self.config_file)

    def read_config(self) -> RunConfig:
        return RunConfig.read(self.config_file)

    def write_record(self, record: RunRecord) -> None:
        record.write(self.record_file)

    def has_record(self) -> bool:
        return self.record_file.exists()

    def read_record(self) -> RunRecord:
        return RunRecord.read(self.record_file)

    # checkpoint (harness/training/checkpoint.py says what is in it)
    def write_checkpoint(self, state: dict[str, Any], position: dict[str, Any]) -> None:
        """Write a complete checkpoint beside the current one, then swap it in.

        A kill at any moment leaves a complete `checkpoint/` or, between the two renames, a
        complete `checkpoint.old/`; `read_checkpoint` takes whichever exists.
        """
        import torch

        if self.checkpoint_staging.exists():
            shutil.rmtree(self.checkpoint_staging)
        self.checkpoint_staging.mkdir(parents=True)
        # Serialized in memory, then written by Python: torch's own writer reports a full disk as
        # "RuntimeError: unexpected pos", Python as OSError(ENOSPC) naming the problem.
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write(self.checkpoint_staging / "state.pt", lambda tmp: tmp.write_bytes(buffer.getbuffer()))
        write_json(self.checkpoint_staging / "position.json", position)
        previous = self.dir / "checkpoint.old"
        if self.checkpoint.exists():
            shutil.rmtree(previous, ignore_errors=True)
            self.checkpoint.rename(previous)
        self.checkpoint_staging.rename(self.checkpoint)
        shutil.rmtree(previous, ignore_errors=True)

    def read_checkpoint(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(tensors, position) of the last complete checkpoint, None when there is none; loaded
        with `weights_only=True` (tensors and plain containers, never code)."""
        import torch

        folder = self._complete_checkpoint()
        if folder is None:
            return None
        position = read_json(folder / "position.json")
        try:
            state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ResultsFileError(folder / "state.pt", "file is missing", "the run will start over") from None
        except Exception as err:  # torch.load raises many types (UnpicklingError, RuntimeError, EOFError...)
            raise ResultsFileError(folder / "state.pt", f"not a loadable checkpoint ({type(err).__name__})",
                                   "the run will start over") from None
        if not isinstance(position, dict) or not isinstance(state, dict):
            raise ResultsFileError(folder, "not a checkpoint of this harness", "the run will start over")
        return state, position

    def _complete_checkpoint(self) -> Path | None:
        """`checkpoint/`, or `checkpoint.old/` after a kill between write_checkpoint's renames."""
        return next((f for f in (self.checkpoint, self.dir / "checkpoint.old") if (f / "position.json").exists()), None)

    def checkpoint_position(self) -> dict[str, Any] | None:
        """Where the last complete checkpoint stands ({"epoch", "step", ...}), None without a readable one."""
        folder = self._complete_checkpoint()
        try:
            position = read_json(folder / "position.json") if folder is not None else None
        except ResultsFileError:
            return None
        valid = isinstance(position, dict) and all(isinstance(position.get(k), int) for k in ("epoch", "step"))
        return position if valid else None

    def remove_partial_files(self) -> None:
        """What a killed process may leave: a half-written checkpoint and atomic writes' temp files."""
        shutil.rmtree(self.checkpoint_staging, ignore_errors=True)
        if self.dir.is_dir():
            for leftover in self.dir.rglob(".*.tmp"):
                leftover.unlink(missing_ok=True)

    def write_error_log(self, text: str) -> None:
        write_text(self.error_log, text)

    # history
    def write_history(self, rows: list[dict[str, Any]]) -> None:
        """The whole history, rewritten atomically (histories are small: one row per epoch)."""
        write_text(self.history_file, "".join(json.dumps(row) + "\n" for row in rows))

    def read_history(self) -> list[dict[str, Any]]:
        if not self.history_file.exists():
            return []
        try:
            text = self.history_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ResultsFileError(self.history_file, f"not readable text ({err})", "the file is corrupt") from None
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise ResultsFileError(self.history_file, f"line {number} is not JSON", "the file is corrupt") from None
            if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                raise ResultsFileError(self.history_file, f"line {number} has no epoch number", "the file is corrupt")
            rows.append(row)
        return rows

    # tensors
    def has_weights(self) -> bool:
        return self.weights_file.exists()

    def write_weights(self, state: dict[str, "torch.Tensor"]) -> None:
        _write_tensors(self.weights_file, state)

    def read_weights(self) -> dict[str, "torch.Tensor"]:
        return _read_tensors(self.weights_file, "retrain the run with `harness run --force`")

    def write_samples(self, images: "torch.Tensor", rows: int) -> None:
        from harness.store.images import save_grid

        save_grid(images, self.samples_png, rows=rows)

    def write_progress_samples(self, epoch: int, images: "torch.Tensor", rows: int) -> None:
        """A sample grid of the fixed latent batch after `epoch` (training progress, `sample_every`)."""
        from harness.store.images import save_grid

        self.progress_dir.mkdir(exist_ok=True)
        save_grid(images, self.progress_dir / f"epoch-{epoch:04d}.png", rows=rows)

    def read_progress_samples(self) -> "list[tuple[int, np.ndarray]] | None":
        """(epoch, pixels) of every progress grid, by epoch; None when the run saved none."""
        paths = sorted(self.progress_dir.glob("epoch-*.png")) if self.progress_dir.is_dir() else []
        return [(int(path.stem.removeprefix("epoch-")), _read_png(path)) for path in paths] or None

    def read_samples(self) -> "np.ndarray | None":
        """The sample grid's pixels (H, W) or (H, W, 3), None when the run has none."""
        return _read_png(self.samples_png) if self.samples_png.exists() else None

    def write_evaluation(self, report: dict[str, Any], row: MetricsRow,
                         feature_stats: dict[str, "torch.Tensor"] | None,
                         figures: dict[str, "torch.Tensor"] | None) -> None:
        if feature_stats is not None:
            _write_tensors(self.feature_stats_file, feature_stats)
        if figures:
            _write_tensors(self.figures_file, figures)
        write_json(self.metrics_file, report)
        row.write(self.metrics_row_file)
        self.partial_metrics_file.unlink(missing_ok=True)

    def write_partial_evaluation(self, partial: dict[str, Any]) -> None:
        """The metrics finished so far, so an interrupted evaluation does not compute them again."""
        write_json(self.partial_metrics_file, partial)

    def read_partial_evaluation(self) -> dict[str, Any] | None:
        """What an interrupted evaluation finished, None when there is nothing usable."""
        try:
            partial = read_json(self.partial_metrics_file)
        except ResultsFileError:
            return None  # missing or corrupt: recompute, nothing is lost
        return partial if isinstance(partial, dict) else None

    def is_evaluated(self) -> bool:
        return self.metrics_row_file.exists()

    def read_metrics_row(self) -> MetricsRow:
        return MetricsRow.read(self.metrics_row_file)

    def read_figures(self) -> dict[str, "torch.Tensor"] | None:
        """The report's model figures, or None for runs evaluated without them (or before they existed)."""
        if not self.figures_file.exists():
            return None
        return _read_tensors(self.figures_file, "re-evaluate the run with `harness evaluate`")


def _results_folders_in(folder: Path) -> list[str]:
    """The names of the suite results folders directly inside `folder` (none if it is no folder)."""
    return sorted(p.name for p in folder.iterdir() if (p / "suite.toml").is_file()) if folder.is_dir() else []


class SuiteFolder:
    """A suite's results folder: its copy of the suite, the reference floor, runs and report files."""

    def __init__(self, path: Path) -> None:
        self.dir = Path(path)
        self.suite_toml = self.dir / "suite.toml"
        self.suite_json = self.dir / "suite.json"
        self.reference_dir = self.dir / "reference"
        self.charts = self.dir / "charts"
        self.report_md = self.dir / "report.md"
        self.report_html = self.dir / "report.html"
        self.leaderboard_md = self.dir / "leaderboard.md"
        self.leaderboard_csv = self.dir / "leaderboard.csv"
        self.launch_file = self.dir / "launch.json"
        self.locks_dir = self.dir / "locks"
        self.jobs_file = self.dir / "jobs.json"
        self.jobs_dir = self.dir / "jobs"

    def __repr__(self) -> str:
        return f"SuiteFolder({self.dir})"

    def require(self) -> "SuiteFolder":
        """This folder, or a clear error when it is not a suite's results folder."""
        if self.suite_toml.is_file():
            return self
        parent = self.dir.parent
        siblings, inside = _results_folders_in(parent), _results_folders_in(self.dir)
        close = closest_name(self.dir.name, siblings)
        hint = f" (did you mean {parent / close}?)" if close else ""
        if inside:
            where = f"; it holds the results folders {', '.join(inside)}: pass one of them, e.g. {self.dir / inside[0]}"
        elif siblings:
            where = f"; the results folders in {parent}: {', '.join(siblings)}"
        else:
            where = "; pass a suite's results folder (made by `harness run`), such as results/quickstart"
        what = "does not exist" if not self.dir.exists() else "no suite.toml here"
        raise HarnessError(f"{self.dir}: {what}{hint}{where}", exit_code=2)

    def write_suite(self, suite_text: str, settings: dict[str, Any]) -> None:
        """The suite's copy and settings, written only when they differ from what is there."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for path, text in ((self.suite_toml, suite_text), (self.suite_json, json.dumps(settings, indent=2) + "\n")):
            try:
                if path.read_text(encoding="utf-8") == text:
                    continue
            except (OSError, UnicodeDecodeError):
                pass
            write_text(path, text)

    def read_suite_record(self) -> SuiteRecord:
        return SuiteRecord.read(self.suite_json)

    def run(self, run_id: str) -> RunFolder:
        return RunFolder(self.dir, run_id)

    # retraining a completed run (--force, --rerun): never lose it before the new one exists
    def staging(self, run_id: str) -> RunFolder:
        """Where a completed run is retrained; swapped in by `promote` once the new run completed."""
        return RunFolder(self.dir / ".staging", run_id)

    def promote(self, run_id: str) -> None:
        """Replace the run's results with its completed retrain (two renames; see finish_replacement)."""
        staged, target, old = self.staging(run_id).dir, self.run(run_id).dir, self._replaced(run_id)
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staged.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    def discard_staging(self, run_id: str) -> None:
        """Remove a retrain that failed: the earlier results stay as they were."""
        shutil.rmtree(self.staging(run_id).dir, ignore_errors=True)

    def finish_replacement(self, run_id: str) -> None:
        """After a kill between `promote`'s renames: put the new (else the old) results in place."""
        if self.run(run_id).dir.exists():
            return
        staged, old = self.staging(run_id), self._replaced(run_id)
        try:
            completed = staged.has_record() and staged.read_record().status == STATUS_COMPLETED
        except ResultsFileError:
            completed = False
        if completed:
            staged.dir.rename(self.run(run_id).dir)
        elif old.exists():
            old.rename(self.run(run_id).dir)

    def _replaced(self, run_id: str) -> Path:
        return self.dir / ".staging" / f"{run_id}.replaced"

    def runs(self) -> Iterator[RunFolder]:
        """Every run folder, sorted by id: each folder but the suite's own (reference, charts, locks,
        jobs) and hidden ones (staging). A folder with no readable config.json is still listed, so
        readers show it as unreadable instead of silently dropping it."""
        if not self.dir.is_dir():
            return iter(())
        # "claims": where versions before 0.2 kept the run locks
        own = {self.reference_dir.name, self.charts.name, self.locks_dir.name, self.jobs_dir.name, "claims",
               *TRACKER_FOLDERS}
        return iter([RunFolder(self.dir, p.name) for p in sorted(self.dir.iterdir())
                     if p.is_dir() and p.name not in own and not p.name.startswith(".")])

    # launches and claims (run_parallel)
    def write_launch(self, launch: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.launch_file, launch)

    def read_launch(self) -> dict[str, Any] | None:
        return read_json(self.launch_file) if self.launch_file.exists() else None

    def lock_file(self, run_id: str) -> Path:
        return self.locks_dir / f"{run_id}.json"

    def create_lock(self, claim: RunLock) -> bool:
        """RunLock a run for this process: True if the claim file did not exist and is now ours.

        O_CREAT | O_EXCL is atomic on local filesystems and on NFSv3+, so of several processes
        (of one launch or of independent launches on one folder) exactly one wins.
        """
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        path = self.lock_file(claim.run)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~UMASK)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(claim.model_dump(mode="json")))
        return True

    def read_lock(self, run_id: str) -> RunLock | None:
        """The run's claim, or None when there is none (or it vanished or is being written)."""
        try:
            return RunLock.read(self.lock_file(run_id))
        except ResultsFileError:
            return None

    def update_lock(self, claim: RunLock) -> None:
        claim.write(self.lock_file(claim.run))

    def retire_lock(self, run_id: str, why: str) -> bool:
        """Move a dead claim aside so the run can be claimed again; False if someone else did first."""
        path = self.lock_file(run_id)
        aside = path.with_name(f".{path.stem}.{why}.{os.getpid()}.json")
        try:
            path.rename(aside)  # atomic: of two processes retiring the same claim, one succeeds
        except FileNotFoundError:
            return False
        aside.unlink(missing_ok=True)
        return True

    def locks(self) -> list[RunLock]:
        if not self.locks_dir.is_dir():
            return []
        found = (self.read_lock(p.stem) for p in sorted(self.locks_dir.glob("*.json")) if not p.name.startswith("."))
        return [claim for claim in found if claim is not None]

    # cluster jobs (--executor)
    def read_jobs(self) -> dict[str, dict[str, Any]]:
        """run id -> {"job", "executor", "submitted_at"} of the last job submitted for it."""
        return read_json(self.jobs_file) if self.jobs_file.exists() else {}

    def write_jobs(self, jobs: dict[str, dict[str, Any]]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.jobs_file, jobs)

    # the real-data floor
    def write_reference(self, record: ReferenceRecord, stats: dict[str, dict[str, "torch.Tensor"]]) -> None:
        for name, tensors in stats.items():
            _write_tensors(self.reference_dir / f"{name}_stats.safetensors", tensors)
        record.write(self.reference_dir / "metrics.json")

    def read_reference(self) -> ReferenceRecord | None:
        path = self.reference_dir / "metrics.json"
        return ReferenceRecord.read(path) if path.exists() else None

    def chart(self, name: str) -> Path:
        return self.charts / f"{name}.png"


TRACKER_FOLDERS = ("wandb", "mlruns")  # what W&B (offline) and MLflow (file store) write into a suite's folder


def _write_tensors(path: Path, tensors: dict[str, "torch.Tensor"]) -> None:
    from safetensors.torch import save_file

    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(contiguous, str(tmp)))


def _read_png(path: Path) -> "np.ndarray":
    """A saved sample grid's pixels, grey (H, W) or colour (H, W, 3); a damaged file names itself."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L" if image.mode in ("L", "LA", "I", "1") else "RGB"))
    except (OSError, SyntaxError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
        raise ResultsFileError(path, f"not a readable PNG ({err})",
                               "retrain the run with `harness run --rerun NAME`") from None


def _read_tensors(path: Path, fix: str) -> dict[str, "torch.Tensor"]:
    """A safetensors file (never a pickle), or ResultsFileError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.exists():
        raise ResultsFileError(path, "file is missing", fix)
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ResultsFileError(path, f"not a readable safetensors file ({err})", fix) from None
