"""harness: train GANs and VAEs from declarative suites and compare them with measured numbers.

The package reads like its data flow:
suite (TOML -> validated runs) -> datasets -> models -> trainer (accelerate) -> results on disk.
"""

import os

__version__ = "0.1.0"

# Numerics and threading, set before torch loads (a user's own setting wins); measured in
# docs/benchmarks.md, "Threads and reproducibility":
# - MKL's strict conditional numerical reproducibility makes matrix products independent of the
#   thread count (without it 1 and 2 threads give different fp32 GANs), so a run gives the same
#   numbers alone with 2 threads or beside another run with 1, at no measured cost in speed.
# - Passive OpenMP workers sleep instead of spinning between kernels: a 2-thread run on a busy
#   machine then keeps ~2,000 images/s instead of collapsing to ~900 (10% slower when quiet).
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
