"""Inception-v3 pool features from local weights (torch-fidelity's FID network), for `features = "inception"`."""

import torch
from torch import nn

from harness.core.errors import HarnessError


class InceptionFeatures(nn.Module):
    """Inception-v3 pool features (2048-d) from local weights, for images in [0, 1] (grey is repeated to RGB)."""

    num_features = 2048

    def __init__(self, weights_path: str) -> None:
        super().__init__()
        from pathlib import Path

        if not Path(weights_path).is_file():
            raise HarnessError(f"inception_weights: {weights_path} does not exist; point it at local "
                               "Inception-v3 (torch-fidelity FID) weights; nothing is downloaded")
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3

            self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                          feature_extractor_weights_path=weights_path)
        except ModuleNotFoundError as err:
            raise HarnessError(f"features = 'inception' needs torch-fidelity ({err}); "
                               "install it with `pip install torch-fidelity`") from None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        rgb = (images.float().clamp(0, 1) * 255).to(torch.uint8)
        if rgb.shape[1] == 1:
            rgb = rgb.expand(-1, 3, -1, -1)
        return self.net(rgb).reshape(images.shape[0], -1)
