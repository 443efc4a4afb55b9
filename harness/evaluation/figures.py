"""What the report shows about a model, made once at evaluation and stored in the run folder:
reconstructions of fixed test images, latent interpolations, and the class histogram of samples.

The report only reads these tensors (it needs neither the weights nor the dataset).
"""

import torch

from harness.evaluation.session import EvaluationSession
from harness.metrics.reconstruction import Reconstruction, frozen, reconstruct
from harness.models.base import GenerativeModel
from harness.models.capabilities import Decodes

FIGURE_IMAGES = 16  # test images reconstructed by every model (the same ones)
INTERPOLATION_PAIRS = 4
INTERPOLATION_STEPS = 10
FIGURE_SEED = 0


def model_figures(model: GenerativeModel, session: EvaluationSession) -> dict[str, torch.Tensor]:
    """Tensors for the report's figures (images in [0, 1], (n, C, H, W)); only what the model can do."""
    figures: dict[str, torch.Tensor] = {}
    if isinstance(model, Decodes):
        c = Reconstruction.configured(session.config)
        originals = session.test_images[:FIGURE_IMAGES].to(session.device)
        with frozen(model):
            rebuilt = reconstruct(model, originals, c.inversion_steps, c.inversion_restarts, c.inversion_lr,
                                  torch.Generator().manual_seed(FIGURE_SEED))
        figures["reconstruction_originals"] = originals.cpu()
        figures["reconstructions"] = rebuilt.cpu()

        ends = model.prior.sample(2 * INTERPOLATION_PAIRS, torch.Generator().manual_seed(FIGURE_SEED))
        ends = ends.reshape(2, INTERPOLATION_PAIRS, -1)
        weights = torch.linspace(0, 1, INTERPOLATION_STEPS)[None, :, None]
        path = ends[0][:, None, :] * (1 - weights) + ends[1][:, None, :] * weights  # (pairs, steps, d)
        with torch.no_grad():
            figures["interpolations"] = model.decode(path.reshape(-1, model.latent_dim).to(session.device)).cpu()
    if session.dataset.spec.evaluator is not None:
        classes = session.dataset.spec.num_classes
        predicted = session.sample_logits(model).argmax(1)
        figures["class_share"] = torch.bincount(predicted, minlength=classes).double() / len(predicted)
        labels = session.dataset.test_labels
        figures["reference_class_share"] = torch.bincount(labels, minlength=classes).double() / len(labels)
    return figures
