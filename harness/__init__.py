"""harness: train GANs and VAEs from declarative suites and compare them with measured numbers.

The package reads like its data flow:
suite (TOML -> validated runs) -> datasets -> models -> trainer (accelerate) -> results on disk.
"""

__version__ = "0.1.0"
