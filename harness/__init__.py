"""harness: train GANs and VAEs from declarative suites and compare them with measured numbers.

The package reads like its data flow:
suite (TOML -> validated runs) -> datasets -> models -> trainer (accelerate) -> results on disk.
"""

import os

__version__ = "0.1.0"

# Numerics and threading. OpenMP and MKL read these once, when torch loads them, so they are set
# here, before anything imports torch (`python -m harness` and `accelerate launch -m harness`
# both import this file first); a user's own setting wins. Measured in docs/benchmarks.md,
# "Threads and OpenMP waiting":
# - Spinning OpenMP workers (ACTIVE) between kernels: on a quiet AMD EPYC host, 2 threads, the
#   tuned VAE trained at 20,000-23,000 images/s spinning, 16,600 with libgomp's default and 9,100
#   sleeping (PASSIVE); the tuned GAN 2,200 / 2,000 / 1,800. The spin is bounded (GOMP_SPINCOUNT,
#   about 10 ms), as fast as ACTIVE's unbounded one when quiet, so that workers left idle sleep.
# - On a busy machine spinning collapses a 2-thread team whatever its spin; harness/execution/cpu_share.py
#   then trains with fewer threads (what the cores left free allow), never below one thread's speed.
# - MKL's strict conditional numerical reproducibility makes its matrix products independent of
#   the thread count on Intel CPUs (it changes nothing on AMD), at no measured cost.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "ACTIVE"
    os.environ["GOMP_SPINCOUNT"] = "1000000"
