"""Image grids saved as PNG with Pillow (torchvision's save_image is not available here)."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.core.files import atomic_write


def image_grid(images: torch.Tensor, rows: int, padding: int = 2) -> np.ndarray:
    """Tile images (n, C, H, W) with values in [0, 1] into one uint8 array (H', W') or (H', W', C)."""
    n, channels, height, width = images.shape
    cols = -(-n // rows)
    grid = np.ones((rows * (height + padding) + padding, cols * (width + padding) + padding, channels), np.float32)
    pixels = images.detach().float().clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = padding + r * (height + padding), padding + c * (width + padding)
        grid[top : top + height, left : left + width] = pixels[i]
    grid = (grid * 255).round().astype(np.uint8)
    return grid[..., 0] if channels == 1 else grid


def save_grid(images: torch.Tensor, path: Path, rows: int, scale: int = 2) -> None:
    picture = Image.fromarray(image_grid(images, rows))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))
