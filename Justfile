# Recipes for common tasks; `just --list` shows them. Data: set HARNESS_DATA_DIR or pass DATA.

data := env_var_or_default("HARNESS_DATA_DIR", "../shared/data")

# Install the CPU torch build first (PyPI's Linux torch is the CUDA build), then the project with test tools.
setup:
    python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    python -m pip install -e ".[dev]"

# The same with PyPI's CUDA build of torch, for a machine with an NVIDIA GPU.
setup-gpu:
    python -m pip install torch==2.13.0
    python -m pip install -e ".[dev]"

# The quickstart suite: the study's four models, shortened (a few minutes on 2 CPU cores).
demo:
    python -m harness run suites/quickstart.toml --data-dir {{data}}

# The full study: four models at the study's epoch counts, three seeds (hours on a CPU).
reproduce:
    python -m harness run suites/gan_vs_vae.toml --data-dir {{data}}

# The same two-process data-parallel run CI tests, on the CPU with gloo.
demo-ddp:
    accelerate launch --config_file launch/cpu-2-processes.yaml -m harness run suites/quickstart.toml --data-dir {{data}} --results results-ddp --strategy data_parallel

test:
    HARNESS_DATA_DIR={{data}} python -m pytest

# Harness vs a plain PyTorch loop, images/s for each of the four models (docs/benchmarks.md).
bench:
    HARNESS_DATA_DIR={{data}} python benchmarks/throughput.py
    HARNESS_DATA_DIR={{data}} python benchmarks/throughput.py --mixed-precision bf16
