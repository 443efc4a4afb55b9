"""The GAN family (Goodfellow et al. 2014): a generator and a discriminator from an architecture,
an objective from harness/models/objectives, and the alternating update written once.

The update takes the schedule of WGAN-GP (Gulrajani et al. 2017, Algorithm 1) for any
objective: `critic_steps` discriminator updates, each on its own batch, per generator update,
and an optional gradient penalty on random interpolates of real and generated images.
"""

import torch
from torch import nn

from harness.models.base import Backward, GenerativeModel, Noise, adam
from harness.models.latents import Prior
from harness.models.objectives import OBJECTIVES, GANObjective
from harness.models.options import GANOptions, ImageShape
from harness.models.registry import FAMILIES


def gradient_penalty(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E (|d score_i / d input_i|_2 - 1)^2: how far the critic is from slope 1 at `inputs`.

    The gradient keeps its graph (`create_graph`) so the penalty's own gradient reaches the
    critic's weights in the same backward pass as the loss. `autograd.grad` asks only for the
    inputs' gradient, so under DDP no weight is marked ready twice: the one backward of
    (loss + penalty) is the update's only all-reduce. Per-image gradients need a critic without
    batch statistics (no batch norm), which the discriminators here are.
    """
    (grads,) = torch.autograd.grad(scores.float().sum(), inputs, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class GAN(GenerativeModel):
    """Networks: "generator" (latents -> images in [-1, 1], tanh) and "discriminator" (images -> 1 logit)."""

    loss_names = ("discriminator", "generator")
    network_names = ("generator", "discriminator")
    options: GANOptions

    def __init__(self, options: GANOptions, networks: dict[str, nn.Module], image_shape: ImageShape,
                 objective: GANObjective) -> None:
        super().__init__(options, networks, image_shape)
        self.objective = objective
        self.latent_dim = options.latent_dim
        self.prior = Prior(options.latent_distribution, options.latent_dim)
        self.critic_steps = options.critic_steps or objective.critic_steps
        self.penalty_weight = objective.gradient_penalty if options.gradient_penalty is None else options.gradient_penalty
        self._critic_updates: int | None = None  # read from the optimizer at the first step (resumed runs)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {name: adam(self.networks[name].parameters(), self.options) for name in ("generator", "discriminator")}

    def train_step(self, images: torch.Tensor, noise: Noise, backward: Backward) -> dict[str, torch.Tensor]:
        """A discriminator update on `images`, then a generator update on every `critic_steps`-th step.

        On a step without a generator update the reported generator loss is the objective's
        generator loss on that step's generated images as the discriminator scored them.
        """
        loss_d, fake_logits = self._discriminator_update(images * 2 - 1, noise, backward)  # the generator's tanh range
        if self._next_critic_update() % self.critic_steps == 0:
            loss_g = self._generator_update(noise, backward)
        else:
            loss_g = self.objective.generator_loss(fake_logits)
        return {"discriminator": loss_d.detach(), "generator": loss_g.detach()}

    def _discriminator_update(self, real: torch.Tensor, noise: Noise, backward: Backward
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """One discriminator step; returns its loss and the generated images' logits."""
        discriminator, opt_d = self.networks["discriminator"], self.optimizers["discriminator"]
        n = real.shape[0]
        # The generator runs without a graph, so no gradient reaches it. Real, fake (and the
        # penalty's interpolates) go through one forward pass: one DDP all-reduce per update.
        with torch.no_grad():
            fake = self.networks["generator"](self.prior.draw(noise)).to(real.dtype)
        batch = [real, fake]
        if self.penalty_weight:
            mix = noise.uniform(0, 1, 1, 1, 1)  # one mixing weight per image
            between = (mix * real + (1 - mix) * fake).requires_grad_(True)
            batch.append(between)
        logits = discriminator(torch.cat(batch)).squeeze(1)
        loss = self.objective.discriminator_loss(logits[:n], logits[n : 2 * n])
        if self.penalty_weight:
            loss = loss + self.penalty_weight * gradient_penalty(logits[2 * n :], between)
        opt_d.zero_grad(set_to_none=True)
        backward(loss)
        opt_d.step()
        return loss, logits[n : 2 * n].detach()

    def _generator_update(self, noise: Noise, backward: Backward) -> torch.Tensor:
        """One generator step against the discriminator as it is now.

        The discriminator is frozen (requires_grad off) and called unwrapped, so its weights get
        no gradient and DDP expects no reduction for it.
        """
        generator, opt_g = self.networks["generator"], self.optimizers["generator"]
        frozen_discriminator = self.net("discriminator")
        frozen_discriminator.requires_grad_(False)
        try:
            loss = self.objective.generator_loss(frozen_discriminator(generator(self.prior.draw(noise))).squeeze(1))
            opt_g.zero_grad(set_to_none=True)
            backward(loss)
            opt_g.step()
        finally:
            frozen_discriminator.requires_grad_(True)
        return loss

    def _next_critic_update(self) -> int:
        """The number of discriminator updates before the one just made (0 for the first).

        Counted from the discriminator optimizer's own step count at the first call, so a run
        resumed from a checkpoint continues its schedule where it stopped; every process holds
        the same count, so all of them update the generator at the same steps.
        """
        if self._critic_updates is None:
            counts = [state["step"] for state in self.optimizers["discriminator"].state.values() if "step" in state]
            self._critic_updates = int(max(counts, default=1)) - 1  # the optimizer has counted the update just made
        count, self._critic_updates = self._critic_updates, self._critic_updates + 1
        return count

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return ((self.net("generator")(z) + 1) / 2).float()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(self.prior.sample(n, generator).to(self.device())).clamp(0, 1)


@FAMILIES.register("gan")
def build_gan(options: GANOptions, networks: dict[str, nn.Module], image_shape: ImageShape) -> GAN:
    return GAN(options, networks, image_shape, OBJECTIVES.get(options.objective)())
