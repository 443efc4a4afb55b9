"""Random hyperparameter search: a `[search]` table (suite-wide) or `[run.search]` (one run) draws
`samples` configurations from distributions, seeded, as Lucic et al. 2018 ("Are GANs Created
Equal?") did to compare GAN objectives at equal budgets.

    [run.search]
    samples = 8                                   # configurations drawn for this run
    seed = 0                                      # optional (default 0)
    lr = { log_uniform = [1e-5, 1e-3] }
    latent_dim = { int = [16, 128] }              # inclusive
    leaky_slope = { uniform = [0.0, 0.3] }
    objective = { choice = ["non_saturating", "hinge"] }

Trial i of run NAME is drawn from a generator seeded by (seed, NAME, i) alone, so adding samples
keeps the earlier trials, and the same suite always gives the same runs. Trial ids are
`NAME-t00`, `NAME-t01`, ...; the drawn values are recorded like matrix values. Floats are
rounded to 3 significant digits (readable, and exactly what is saved and hashed).

Without `select` every trial trains with every seed of the suite. With `select = "fid"` (a
scored metric) the search trains each trial with the suite's first seed only; once every trial is
trained and evaluated, the best one by that metric trains with the other seeds (the protocol
of Lucic et al.: search with one seed, then report the chosen configuration over several).
"""

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Any

DISTRIBUTIONS = ("log_uniform", "uniform", "int", "choice")
# The keys of a [search] table besides the searched ones: (type = default, meaning), for `list`.
SEARCH_KEYS = {
    "samples": ("int", "configurations drawn for each [[run]]: ids NAME-t00, NAME-t01, ..."),
    "seed": ("int = 0", "seed of the draws; trial i of run NAME depends only on (seed, NAME, i)"),
    "select": ("metric = none", "train each trial with the suite's first seed, then the best trial by this scored "
               "metric (fid, iwae, ...) with the other seeds; without it every trial trains with every seed"),
}
SEARCHED_KEY_HELP = ("{ log_uniform = [low, high] } | { uniform = [low, high] } | { int = [low, high] } | "
                     "{ choice = [...] }", "any training or model key of the run, drawn for each trial")
MAX_SAMPLES = 10_000


@dataclass(frozen=True)
class Distribution:
    kind: str
    arguments: tuple[Any, ...]

    def draw(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return self.arguments[rng.randrange(len(self.arguments))]
        low, high = self.arguments
        if self.kind == "int":
            return rng.randint(low, high)
        if self.kind == "log_uniform":
            return _round(math.exp(rng.uniform(math.log(low), math.log(high))))
        return _round(rng.uniform(low, high))


@dataclass(frozen=True)
class Search:
    samples: int
    seed: int
    distributions: dict[str, Distribution]
    select: str | None = None  # the metric that picks the trial to train with the other seeds

    def trials(self, name: str) -> list[dict[str, Any]]:
        """The drawn values of every trial of run `name`, in trial order."""
        return [self.trial(name, index) for index in range(self.samples)]

    def trial(self, name: str, index: int) -> dict[str, Any]:
        digest = hashlib.sha256(f"{self.seed}:{name}:{index}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        return {key: distribution.draw(rng) for key, distribution in self.distributions.items()}


def trial_id(name: str, index: int, samples: int) -> str:
    return f"{name}-t{index:0{max(2, len(str(samples - 1)))}d}"


def best_trial(scores: dict[int, float | None], lower_is_better: bool) -> int | None:
    """The trial with the best score (the first of equals); None when no trial has a score.

    A trial without a score (it failed, diverged or its metric is n/a) is never the best.
    """
    scored = {trial: score for trial, score in scores.items() if score is not None and math.isfinite(score)}
    if not scored:
        return None
    return min(scored, key=lambda trial: (scored[trial] if lower_is_better else -scored[trial], trial))


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def parse_search(table: Any, where: str) -> tuple[Search | None, list[tuple[str, str]]]:
    """A validated Search, or None and (key path, problem) pairs naming each mistake."""
    problems: list[tuple[str, str]] = []
    if not isinstance(table, dict):
        return None, [(where, "expected a table: samples = N and key = { log_uniform | uniform | int | choice = ... }")]
    samples: Any = table.get("samples")  # checked below, with every other problem of the table
    seed: Any = table.get("seed", 0)
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_SAMPLES:
        problems.append((f"{where}.samples", f"expected the number of configurations to draw, 1 to {MAX_SAMPLES:,}"))
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        problems.append((f"{where}.seed", "expected a whole number in [0, 2^32)"))
    select = table.get("select")
    if select is not None:
        from harness.metrics.columns import scored_columns

        if select not in scored_columns():
            problems.append((f"{where}.select", f"{select!r} is not a scored metric; the metric that picks the best "
                             f"trial is one of {', '.join(scored_columns())}"))
    distributions: dict[str, Distribution] = {}
    for key, spec in table.items():
        if key in SEARCH_KEYS:
            continue
        distribution, problem = _distribution(spec)
        if problem or distribution is None:
            problems.append((f"{where}.{key}", problem or "not a distribution"))
        else:
            distributions[key] = distribution
    if not distributions and not problems:
        problems.append((where, "names no key to search: add e.g. lr = { log_uniform = [1e-5, 1e-3] }"))
    if problems:
        return None, problems
    return Search(samples, seed, distributions, select), []


def _distribution(spec: Any) -> tuple[Distribution | None, str | None]:
    example = "e.g. { log_uniform = [1e-5, 1e-3] }, { uniform = [0, 1] }, { int = [16, 128] } or { choice = [...] }"
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        return None, f"expected one distribution, {example}"
    kind, arguments = next(iter(spec.items()))
    if not isinstance(arguments, list) or not arguments:
        return None, f"{kind} takes a list ({example})"
    if kind == "choice":
        return Distribution(kind, tuple(arguments)), None
    numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arguments)
    if len(arguments) != 2 or not numbers or not math.isfinite(arguments[0]) or not math.isfinite(arguments[1]):
        return None, f"{kind} takes [low, high], two finite numbers"
    low, high = arguments
    if not low < high:
        return None, f"{kind} needs low < high, got [{low}, {high}]"
    if kind == "log_uniform" and low <= 0:
        return None, f"log_uniform needs low > 0, got {low}"
    if kind == "int" and not (isinstance(low, int) and isinstance(high, int)):
        return None, "int takes two whole numbers [low, high] (inclusive)"
    return Distribution(kind, (low, high)), None
