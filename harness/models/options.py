"""Options of the model families, as pydantic classes (no torch here: suites validate without it).

An architecture's options class subclasses its family's (GANOptions or VAEOptions) and adds
the architecture's own keys; `family` names the registered family that puts the networks into a model.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from harness.core.registry import registered_in
from harness.models.likelihoods import LIKELIHOODS
from harness.models.objectives import OBJECTIVES

ImageShape = tuple[int, int, int]  # (channels, height, width)
LatentDistribution = Literal["uniform", "normal"]


ObjectiveName = Annotated[str, registered_in(OBJECTIVES)]
LikelihoodName = Annotated[str, registered_in(LIKELIHOODS)]
ActivationName = Literal["relu", "leaky_relu", "elu", "gelu", "silu", "tanh"]
# Adam's (beta1, beta2): a TOML list of two numbers in [0, 1).
Betas = Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)]


def resolved(options: BaseModel) -> dict[str, Any]:
    """Options as saved with a run and hashed into its identity.

    Options added after runs were published (`late_option`) are left out while they are at
    their default, so a run trained before the option existed keeps its configuration hash
    (and a rerun of its suite still finds it complete). Options that change only what is saved
    for people to look at (`display_option`) are always left out: they change no number.
    """
    fields = type(options).model_fields.items()
    late_defaults = {name for name, field in fields
                     if (field.json_schema_extra or {}).get("late") and getattr(options, name) == field.default}
    display_only = {name for name, field in fields if (field.json_schema_extra or {}).get("display_only")}
    return options.model_dump(exclude=late_defaults | display_only)


def late_option(default: Any, description: str, **constraints: Any) -> Any:
    """A field added after runs were published: not part of their hash while at its default."""
    return Field(default=default, description=description, json_schema_extra={"late": True}, **constraints)


def display_option(default: Any, description: str, **constraints: Any) -> Any:
    """A field that changes only what is saved for people to look at, never a trained number: not hashed."""
    return Field(default=default, description=description, json_schema_extra={"display_only": True}, **constraints)


class ModelOptions(BaseModel):
    """Base of every model's options: unknown keys and wrong types are errors, never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def resolved(self) -> dict[str, Any]:
        return resolved(self)



class GANOptions(ModelOptions):
    """What every GAN takes, whatever its architecture."""

    family: ClassVar[str] = "gan"  # the FAMILIES entry that builds the model (models/gan.py)

    latent_dim: PositiveInt = Field(100, description="size of the noise vector z the generator maps to an image")
    latent_distribution: LatentDistribution = Field("uniform", description="prior of z: uniform on [-1, 1] or normal")
    lr: PositiveFloat = Field(2e-4, description="Adam learning rate of both networks")
    betas: Betas = Field([0.5, 0.999], description="Adam's (beta1, beta2) for both networks")
    objective: ObjectiveName = late_option(
        "non_saturating", "the GAN loss, a module of harness/models/objectives/ (README, Model zoo): "
        "non_saturating is the study's")
    critic_steps: PositiveInt | None = late_option(
        None, "discriminator (critic) updates per generator update, each on its own batch; default: the "
        "objective's (5 for wasserstein_gp, 1 for the others)", le=100)
    gradient_penalty: float | None = late_option(
        None, "weight of the gradient penalty E(|grad D(x)| - 1)^2 on random real-fake interpolates "
        "(Gulrajani et al. 2017), any objective; default: the objective's (10 for wasserstein_gp, 0 for the others)",
        ge=0.0)

    @model_validator(mode="after")
    def _bounded_critic(self) -> "GANOptions":
        if self.objective == "wasserstein_gp" and self.gradient_penalty == 0:
            raise ValueError("objective wasserstein_gp needs gradient_penalty > 0: without it the critic's loss "
                             "has no minimum (the paper uses 10; leave the key out for that)")
        return self



class VAEOptions(ModelOptions):
    """What every VAE takes, whatever its architecture."""

    family: ClassVar[str] = "vae"  # the FAMILIES entry that builds the model (models/vae.py)

    latent_dim: PositiveInt = Field(64, description="size of the latent code z (a diagonal Gaussian posterior)")
    lr: PositiveFloat = Field(1e-3, description="Adam learning rate of encoder and decoder")
    betas: Betas = Field([0.9, 0.999], description="Adam's (beta1, beta2)")
    likelihood: LikelihoodName = late_option(
        "bernoulli_intensities",
        "observation model p(x|z): bernoulli (binarized), continuous_bernoulli, gaussian, gaussian_fixed "
        "(dequantized intensities), or bernoulli_intensities (the study's BCE on grey levels; not a density)")
    observation_std: PositiveFloat = late_option(0.1, "standard deviation of gaussian_fixed", le=1.0)
    beta: float = late_option(
        1.0, "weight of the KL term in the training loss (beta-VAE, Higgins et al. 2017); the reported ELBO and "
        "IWAE bounds are always at beta = 1", ge=0.0)
    train_samples: PositiveInt = late_option(
        1, "importance samples k in the training objective: 1 trains on the ELBO, k > 1 on the IWAE bound "
        "(Burda et al. 2016)", le=1024)

    @model_validator(mode="after")
    def _one_objective(self) -> "VAEOptions":
        if self.beta != 1.0 and self.train_samples > 1:
            raise ValueError("beta != 1 and train_samples > 1 do not combine: beta weights the ELBO's KL term, "
                             "train_samples > 1 trains on the IWAE bound, which has no separate KL term")
        return self

