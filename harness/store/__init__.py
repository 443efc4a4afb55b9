"""The results store: every file of a suite folder and its run folders, read and written here only.

Callers import from `harness.store`; the modules inside are `folders` (the layout, atomic writes,
typed records) and `images` (sample grids as PNG and arrays).
"""

from harness.store.folders import *  # noqa: F401,F403
