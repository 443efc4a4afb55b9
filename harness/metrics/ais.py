"""Log-likelihood of every decoder-based model, GANs included, by annealed importance sampling
(Neal 2001), as in Wu et al. 2017, "On the Quantitative Analysis of Decoder-Based Models".

The model is read as p(x) = ∫ p(z) N(x; decode(z), σ²I) dz: a Gaussian observation model around
the decoder's mean image, on dequantized intensities x = (pixel + u) / 256, so the number is a
proper log-density (and bits per dimension a proper code length) for GANs and VAEs alike.
σ is chosen per model as in the paper, as the value of a small grid that gives held-out
training images the highest (short-run) AIS log-likelihood; it is recorded.

AIS anneals from the prior (β = 0) to the posterior (β = 1) through p(z) p(x|z)^β on a sigmoid
schedule of `steps` temperatures, with one Hamiltonian Monte Carlo move (`leapfrog` steps) per
temperature. Step sizes come from a pilot run (PILOT_CHAINS chains per image, adapting toward
65 % acceptance), fixed per image and temperature before the estimating chains start: adapting
each chain's step to its own acceptance made the estimate biased (-0.17 nats on a
linear-Gaussian decoder whose log p(x) is exact, however many temperatures), a fixed schedule
did not (tests/test_ais.py). A uniform
prior on [-1, 1]^d is handled by reflecting the trajectory at the box's walls (Neal 2011, 5.1).
The estimate, log of the mean importance weight over chains, is a stochastic lower bound of
log p(x).

Bidirectional Monte Carlo (Grosse et al. 2015) bounds the estimator's error: on data simulated
from the model itself (z* ~ p(z), x ~ p(x|z*)), z* is an exact posterior sample, so AIS run in
reverse from it gives a stochastic upper bound; the gap between the two bounds (`ais_bdmc_gap`)
says how far from converged the chains are for this model and this many steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import Field, PositiveInt

from harness.metrics.registry import METRICS
from harness.metrics.base import Column, Metric, MetricSettings
from harness.models.capabilities import Decodes
from harness.core.seeds import derived_seed

if TYPE_CHECKING:
    import torch

    from harness.models.latents import Prior

SIGMA_GRID = (0.025, 0.05, 0.1, 0.2, 0.4)
SIGMA_IMAGES = 16  # held-out training images that choose sigma
SIGMA_STEPS_FRACTION = 0.2  # the choice runs AIS with this fraction of the temperatures
TARGET_ACCEPTANCE = 0.65
ADAPTATION_RATE = 0.1
PILOT_CHAINS = 2
CHUNK = 25  # images per chunk (one seeded generator each)
LOG_256 = math.log(256)

LogLikelihood = Callable[["torch.Tensor"], "torch.Tensor"]  # latents (rows, d) -> log p(x_row | z_row), (rows,)


def sigmoid_schedule(steps: int, sharpness: float = 4.0) -> torch.Tensor:
    """steps + 1 inverse temperatures from 0 to 1, dense at both ends (Grosse et al. 2015)."""
    import torch

    s = torch.sigmoid(sharpness * torch.linspace(-1, 1, steps + 1, dtype=torch.float64))
    return (s - s[0]) / (s[-1] - s[0])


def gaussian_log_likelihood(decode: Callable[[torch.Tensor], torch.Tensor], observed: torch.Tensor,
                            sigma: float) -> LogLikelihood:
    """log N(x; decode(z), σ²I) summed over pixels, for rows of latents aligned with rows of `observed`."""
    flat = observed.flatten(1)
    constant = flat.shape[1] * (math.log(sigma) + 0.5 * math.log(2 * math.pi))

    def log_likelihood(z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (decode(z).flatten(1).float() - flat).pow(2).sum(1) / sigma**2 - constant

    return log_likelihood


def _energy_and_grad(z: torch.Tensor, beta: float, prior: Prior,
                     log_likelihood: LogLikelihood) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """U(z) = -log p(z) - β log p(x|z), its gradient, and log p(x|z), per row."""
    import torch

    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        ll = log_likelihood(z)
        energy = -prior.log_density(z) - beta * ll
        (grad,) = torch.autograd.grad(energy.sum(), z)
    return energy.detach(), grad, ll.detach()


def _hmc_move(z: torch.Tensor, step: torch.Tensor, beta: float, prior: Prior, log_likelihood: LogLikelihood,
              leapfrog: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One HMC transition leaving p(z) p(x|z)^β invariant; returns (z, acceptance probabilities, log p(x|z) at z)."""
    import torch

    momentum = torch.randn(z.shape, generator=generator).to(z.device, z.dtype)
    energy0, grad, ll0 = _energy_and_grad(z, beta, prior, log_likelihood)
    kinetic0 = 0.5 * momentum.pow(2).sum(1)
    eps = step[:, None]
    position, p = z.clone(), momentum - 0.5 * eps * grad
    for i in range(leapfrog):
        position = position + eps * p
        prior.reflect_(position, p)
        energy, grad, ll = _energy_and_grad(position, beta, prior, log_likelihood)
        p = p - (eps if i < leapfrog - 1 else 0.5 * eps) * grad
    log_accept = (energy0 + kinetic0 - energy - 0.5 * p.pow(2).sum(1)).clamp(max=0.0)
    log_accept = torch.nan_to_num(log_accept, nan=-math.inf)
    accept = torch.rand(len(z), generator=generator).to(z.device).log() < log_accept
    z = torch.where(accept[:, None], position, z)
    ll = torch.where(accept, ll, ll0)
    return z, log_accept.exp(), ll


def annealed_importance_sampling(prior: Prior, log_likelihood: LogLikelihood, rows: int, steps: int, leapfrog: int,
                                 generator: torch.Generator, step_sizes: torch.Tensor | None = None,
                                 start: torch.Tensor | None = None,
                                 device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Log importance weights, one per row (chain), and the step sizes used, (steps, rows) by target temperature.

    Forward (start None): chains start from the prior and anneal to the posterior; E[w] = p(x), so
    log-mean-exp over chains is a stochastic lower bound of log p(x). Reverse (start = exact
    posterior samples): anneal back to the prior; E[w] = 1/p(x), so minus the log-mean-exp is a
    stochastic upper bound. `step_sizes` None: a pilot run, adapting each row's step to its
    acceptance (biased weights: use its step sizes, not its weights).
    """
    import torch

    betas = sigmoid_schedule(steps).tolist()
    if start is None:
        z = prior.sample(rows, generator).to(device)
        moves = [(betas[t - 1], betas[t], t - 1) for t in range(1, steps + 1)]  # target index t - 1 in 0..steps-1
    else:
        z = start.clone().to(device)
        moves = [(betas[t], betas[t - 1], max(t - 2, 0)) for t in range(steps, 0, -1)]  # (1, β_{T-1}), ..., (β_1, 0)
    adapting = step_sizes is None
    used = torch.empty((steps, rows), device=device)
    step = torch.full((rows,), 0.05, device=device)
    log_weights = torch.zeros(rows, dtype=torch.float64, device=device)
    with torch.no_grad():
        ll = log_likelihood(z)
    for previous, current, index in moves:
        log_weights += (current - previous) * ll.double()
        if not adapting:
            step = step_sizes[index]
        used[index] = step
        z, acceptance, ll = _hmc_move(z, step, current, prior, log_likelihood, leapfrog, generator)
        if adapting:
            step = (step * torch.exp(ADAPTATION_RATE * (acceptance - TARGET_ACCEPTANCE))).clamp(1e-4, 0.5)
    return log_weights, used


def pilot_step_sizes(prior: Prior, log_likelihood_for: Callable[[int], LogLikelihood], images: int, chains: int,
                     steps: int, leapfrog: int, generator: torch.Generator,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Step sizes (steps, images * chains) from an adapting pilot run with PILOT_CHAINS chains per image."""

    _, used = annealed_importance_sampling(prior, log_likelihood_for(PILOT_CHAINS), images * PILOT_CHAINS, steps,
                                           leapfrog, generator, device=device)
    per_image = used.reshape(steps, images, PILOT_CHAINS).log().mean(-1).exp()  # geometric mean over pilot chains
    return per_image.repeat_interleave(chains, dim=1)


def log_mean_exp(log_weights: torch.Tensor, chains: int) -> torch.Tensor:
    """Per image, from weights laid out image-major (image 0's chains first)."""
    import torch

    return torch.logsumexp(log_weights.reshape(-1, chains), dim=1) - math.log(chains)


def ais_log_likelihood(model: Decodes, observed: torch.Tensor, sigma: float, chains: int, steps: int,
                       leapfrog: int, generator: torch.Generator) -> torch.Tensor:
    """Per-image AIS estimate (nats) of log p(x) under N(decode(z), σ²I), for observed images (n, C, H, W)."""
    def log_likelihood_for(copies: int) -> LogLikelihood:
        return gaussian_log_likelihood(model.decode, observed.repeat_interleave(copies, dim=0), sigma)

    step_sizes = pilot_step_sizes(model.prior, log_likelihood_for, len(observed), chains, steps, leapfrog, generator,
                                  observed.device)
    weights, _ = annealed_importance_sampling(model.prior, log_likelihood_for(chains), len(observed) * chains, steps,
                                              leapfrog, generator, step_sizes, device=observed.device)
    return log_mean_exp(weights, chains)


def bdmc_gap(model: Decodes, images: int, sigma: float, chains: int, steps: int, leapfrog: int,
             generator: torch.Generator, device: torch.device | str = "cpu") -> dict[str, float]:
    """Bidirectional Monte Carlo on `images` simulated images: mean lower bound, upper bound and their gap."""
    import torch

    with torch.no_grad():
        exact = model.prior.sample(images, generator).to(device)
        mean = model.decode(exact).float()
        simulated = mean + sigma * torch.randn(mean.shape, generator=generator).to(device)
    lower = ais_log_likelihood(model, simulated, sigma, chains, steps, leapfrog, generator)

    def log_likelihood_for(copies: int) -> LogLikelihood:
        return gaussian_log_likelihood(model.decode, simulated.repeat_interleave(copies, dim=0), sigma)

    step_sizes = pilot_step_sizes(model.prior, log_likelihood_for, images, chains, steps, leapfrog, generator, device)
    reverse, _ = annealed_importance_sampling(model.prior, log_likelihood_for(chains), images * chains, steps, leapfrog,
                                              generator, step_sizes, start=exact.repeat_interleave(chains, dim=0),
                                              device=device)
    upper = -log_mean_exp(reverse, chains)
    return {"lower": float(lower.mean()), "upper": float(upper.mean()), "gap": float((upper - lower).mean())}


def choose_sigma(model: Decodes, held_out: torch.Tensor, chains: int, steps: int, leapfrog: int,
                 seed: int) -> tuple[float, dict[str, float]]:
    """The grid value giving held-out images the highest short-run AIS log-likelihood, and every value's."""
    import torch

    short = max(2, int(steps * SIGMA_STEPS_FRACTION))
    scores = {}
    for sigma in SIGMA_GRID:
        generator = torch.Generator().manual_seed(derived_seed(seed, "sigma", str(sigma)))
        scores[str(sigma)] = float(ais_log_likelihood(model, held_out, sigma, chains, short, leapfrog, generator).mean())
    best = max(scores, key=scores.get)
    return float(best), scores


class AISSettings(MetricSettings):
    ais_images: PositiveInt = Field(default=50, description="AIS: seeded random test images")
    ais_chains: PositiveInt = Field(default=8, description="AIS: independent chains per image")
    ais_steps: int = Field(default=300, ge=2, description="AIS: temperatures from prior to posterior")
    ais_leapfrog: PositiveInt = Field(default=5, description="AIS: leapfrog steps per HMC move")
    bdmc_images: PositiveInt = Field(default=8, description="AIS: simulated images for the BDMC error bound")


@METRICS.register("ais")
class AnnealedImportanceSampling(Metric):
    name = "ais"
    Settings = AISSettings
    test_image_settings = ("ais_images",)
    requires = (Decodes,)
    columns = (
        Column("ais_log_likelihood", "AIS log-likelihood", "higher", "nats/image", digits=4, leaderboard=True,
               chart=True),
        Column("ais_bits_per_dim", "AIS", "lower", "bits/dim", digits=4),
        Column("ais_sigma", "AIS observation σ", None, digits=3),
        Column("ais_bdmc_gap", "AIS BDMC gap", "lower", "nats", digits=3),
    )

    def settings(self, session) -> dict[str, Any]:
        c = self.configured(session.config)
        return {"images": session.test_subset(c.ais_images), "data": "dequantized intensities (pixel + u) / 256",
                "observation_model": "N(decode(z), sigma^2 I)", "chains": c.ais_chains, "steps": c.ais_steps,
                "leapfrog": c.ais_leapfrog, "schedule": "sigmoid", "sigma_grid": list(SIGMA_GRID),
                "sigma_chosen_on": f"{SIGMA_IMAGES} seeded random training images, "
                                   f"{int(c.ais_steps * SIGMA_STEPS_FRACTION)} temperatures",
                "bdmc_images": c.bdmc_images, "unit": "nats per image (higher is better)"}

    def compute(self, model, session) -> dict[str, Any]:
        import torch

        from harness.core.seeds import subset_indices
        from harness.metrics.reconstruction import frozen
        from harness.models.likelihoods import dequantize

        c = self.configured(session.config)
        device = session.device

        def observed(images: torch.Tensor, purpose: str) -> torch.Tensor:
            uniform = torch.rand(images.shape, generator=torch.Generator().manual_seed(derived_seed(0, purpose)))
            return dequantize(images.float(), uniform)

        train = session.dataset.train_images
        held_out = observed(train[subset_indices(len(train), SIGMA_IMAGES, "train")].float() / 255, "sigma")
        test = observed(session.test_images[session.test_indices(c.ais_images)], "ais")
        with frozen(model):
            sigma, scores = choose_sigma(model, held_out.to(device), c.ais_chains, c.ais_steps, c.ais_leapfrog, 0)

            def estimate(chunk: int, start: int, stop: int) -> torch.Tensor:
                generator = torch.Generator().manual_seed(derived_seed(0, "ais", chunk))
                return ais_log_likelihood(model, test[start:stop].to(device), sigma, c.ais_chains, c.ais_steps,
                                          c.ais_leapfrog, generator).cpu()

            per_image = session.strategy.map_chunks(len(test), CHUNK, estimate)
            bdmc = bdmc_gap(model, c.bdmc_images, sigma, c.ais_chains, c.ais_steps, c.ais_leapfrog,
                            torch.Generator().manual_seed(derived_seed(0, "bdmc")), device)
        log_likelihood = float(per_image.double().mean())
        dims = test[0].numel()
        session.details(self.name).update(sigma_scores=scores, bdmc=bdmc)
        return {"ais_log_likelihood": log_likelihood,
                "ais_bits_per_dim": (-log_likelihood + dims * LOG_256) / (dims * math.log(2)),
                "ais_sigma": sigma, "ais_bdmc_gap": bdmc["gap"]}
