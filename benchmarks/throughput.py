"""Training throughput as users get it: `python -m harness run` against the best plain PyTorch loop.

For each of the study's four models and each precision (fp32, and what `auto` picks on this
CPU), rounds of fresh processes, interleaved (the order rotates each round):

- **harness**: `python -m harness run ONE_RUN.toml` as a user types it: a one-run suite with the
  study's model, 2 epochs of STEPS batches of 64 (the first MNIST training images), no
  evaluation; the user's environment, the harness's default threads and waiting, the precision
  written in the suite ("no", or "auto" left to the harness). Its images/s is the in-loop speed
  of the second epoch, read from the run's history.jsonl (the first epoch warms up).
- **best plain**: benchmarks/plain_loops.py, the best loop we can write, in the same precision
  and with torch's own default threads and OpenMP settings (it imports nothing of the harness).
- **tutorial** (with --tutorial): a GAN tutorial's loop, as a second reference;
- with --busy N, N busy-loop processes run beside every measurement (a shared machine), and
  **plain, 1 thread** (the same best loop with OMP_NUM_THREADS=1) is the floor the harness's
  default threads must not fall below.

Each ratio is the median over rounds of harness / plain within the round, so slow phases of a
shared machine cancel. The table also says how far each is from this CPU's matrix-product peak
(benchmarks/matmul_peak.py) and which CPU it ran on.

    HARNESS_DATA_DIR=../shared/data python benchmarks/throughput.py [--rounds 5] [--steps 200]
        [--models gan-final vae-final] [--precisions no auto] [--tutorial] [--busy 2]
"""

import os

USER_ENVIRONMENT = dict(os.environ)  # before anything of the harness is imported: what a user's shell has

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

from matmul_peak import flops_per_image  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STUDY = REPO / "suites" / "gan_vs_vae.toml"
CPU_FLAGS_SHOWN = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def one_run_suite(model: str, precision: str, steps: int) -> str:
    """The study's run `model` alone: 2 epochs of `steps` batches, no evaluation, in `precision`."""
    study = tomllib.loads(STUDY.read_text())
    run = next(r for r in study["run"] if r["name"] == model)
    batch = study["defaults"]["batch_size"]
    keys = {**run, "epochs": 2, "batch_size": batch, "train_subset": steps * batch}
    lines = ["[suite]", 'name = "throughput"', 'dataset = "mnist"', "seeds = [0]",
             f"mixed_precision = {toml_value(precision)}", "", "[[run]]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in keys.items()]
    return "\n".join([*lines, "", "[evaluation]", "enabled = false", ""])


def harness_speed(model: str, precision: str, steps: int) -> tuple[float, str, int]:
    """(in-loop images/s of the second epoch, the precision it trained in, its threads)."""
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "one_run.toml"
        suite.write_text(one_run_suite(model, precision, steps))
        done = subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--results", f"{tmp}/results"],
                              env=USER_ENVIRONMENT, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"harness run failed for {model}:\n{done.stderr[-3000:]}")
        run_dir = Path(tmp) / "results" / "throughput" / f"{model}-s0"
        history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
        record = json.loads((run_dir / "run.json").read_text())
    return history[-1]["images_per_second"], record["mixed_precision"], record["threads"]


def plain_speed(model: str, loop: str, precision: str, steps: int) -> float:
    """Images/s of a plain loop; loop "one-thread" is the best loop with OMP_NUM_THREADS=1."""
    env = {**USER_ENVIRONMENT, "OMP_NUM_THREADS": "1"} if loop == "one-thread" else USER_ENVIRONMENT
    done = subprocess.run([sys.executable, str(HERE / "plain_loops.py"), model, "--loop",
                           "best" if loop == "one-thread" else loop, "--precision", precision, "--steps", str(steps)],
                          env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[0])


def matmul_peaks() -> dict[str, float]:
    done = subprocess.run([sys.executable, str(HERE / "matmul_peak.py"), "--numbers"], env=USER_ENVIRONMENT,
                          capture_output=True, text=True, check=True)
    fp32, bf16 = map(float, done.stdout.split()[:2])
    return {"no": fp32, "bf16": bf16}


def auto_precision() -> str:
    """What `mixed_precision = "auto"` picks on this CPU (harness/execution/hardware.py), asked in a fresh process."""
    done = subprocess.run([sys.executable, "-c", "from harness.execution.hardware import cpu_flags, cpu_precision; "
                           "print(cpu_precision(cpu_flags())[0])"], env=USER_ENVIRONMENT, capture_output=True,
                          text=True, check=True, cwd=REPO)
    return done.stdout.strip()


def cpu_description() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    flags = next((set(line.split(":", 1)[1].split()) for line in cpuinfo.splitlines() if line.startswith("flags")), set())
    shown = ", ".join(flag for flag in CPU_FLAGS_SHOWN if flag in flags) or "none of " + ", ".join(CPU_FLAGS_SHOWN)
    return f"{name}, {os.cpu_count()} cores, flags: {shown}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch (2 epochs, the second timed)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["gan-baseline", "gan-final", "vae-baseline", "vae-final"])
    parser.add_argument("--precisions", nargs="+", default=["no", "auto"], choices=["no", "bf16", "auto"])
    parser.add_argument("--tutorial", action="store_true", help="also time a tutorial's loop")
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="busy-loop processes beside every measurement")
    args = parser.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        measure(args)
    finally:
        for process in busy:
            process.kill()


def measure(args: argparse.Namespace) -> None:
    peaks = matmul_peaks()
    print(f"CPU: {cpu_description()}")
    print(f"matrix-product peak with the default threads: fp32 {peaks['no']:,.0f} GFLOP/s, bf16 {peaks['bf16']:,.0f}")
    print(f"{args.rounds} rounds of fresh processes, interleaved; 2 epochs x {args.steps} steps x batch 64, second timed; "
          f"{args.busy} busy processes beside\n")
    loops = ["best", *(["tutorial"] if args.tutorial else []), *(["one-thread"] if args.busy else [])]
    header = "| model | suite precision | trained in | threads | harness img/s | best plain img/s | harness / best |"
    header += " tutorial img/s | harness / tutorial |" if args.tutorial else ""
    header += " plain 1 thread img/s | harness / 1 thread |" if args.busy else ""
    header += " harness GFLOP/s | of peak |"
    print(header)
    print("|" + "---|" * header.count(" |"))
    for precision in args.precisions:
        for model in args.models:
            speeds: dict[str, list[float]] = {which: [] for which in ["harness", *loops]}
            trained_in, threads = (auto_precision() if precision == "auto" else precision), 0
            for round_index in range(args.rounds):
                order = ["harness", *loops]
                shift = round_index % len(order)
                for which in order[shift:] + order[:shift]:
                    if which == "harness":
                        speed, ran_in, threads = harness_speed(model, precision, args.steps)
                        assert ran_in == trained_in, (ran_in, trained_in)  # the plain loop ran in the same
                    else:
                        speed = plain_speed(model, which, trained_in, args.steps)
                    speeds[which].append(speed)
            medians = {k: statistics.median(v) for k, v in speeds.items()}
            ratios = {k: statistics.median(h / p for h, p in zip(speeds["harness"], speeds[k])) for k in loops}
            gflops = medians["harness"] * flops_per_image(model) / 1e9
            row = (f"| {model} | {precision} | {'fp32' if trained_in == 'no' else trained_in} | {threads} | "
                   f"{medians['harness']:,.0f} | {medians['best']:,.0f} | **{ratios['best']:.2f}** |")
            for extra in loops[1:]:
                row += f" {medians[extra]:,.0f} | {ratios[extra]:.2f} |"
            row += f" {gflops:,.0f} | {gflops / peaks[trained_in]:.2f} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
