"""SSIM (Wang, Bovik, Sheikh, Simoncelli 2004) with numpy, for the bench's quality gate.

Hand-written rather than imported: scikit-image brings scipy, networkx, imageio and more for one
function; pyssim and sewar also pull scipy; pytorch-msssim and piq need torch. The metric itself
is forty lines of numpy, computed exactly as the paper (and scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)`) defines it: an 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
L = 255, the mean of the SSIM map over the window positions that fit inside the image ("valid").

It is computed on luma (Pillow's `convert("L")`, ITU-R 601), the channel where resampling
blur and ringing show; chroma is subsampled 2x2 by the JPEG encoder on both sides anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

_K1, _K2, _L = 0.01, 0.03, 255.0
_WINDOW, _SIGMA = 11, 1.5


def _gaussian(size: int = _WINDOW, sigma: float = _SIGMA) -> Any:
    x = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter(a: Any, w: Any) -> Any:
    """Separable filter, valid positions only (the window never leaves the image)."""
    n = len(w)
    height, width = a.shape
    rows = sum(w[i] * a[:, i : width - n + 1 + i] for i in range(n))
    return sum(w[i] * rows[i : height - n + 1 + i, :] for i in range(n))


def luma(image: Image.Image) -> Any:
    """The image's luma plane as float64 (alpha, if any, flattened onto white first)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    return np.asarray(image.convert("L"), dtype=np.float64)


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of two images of the same size (1.0 = identical)."""
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} and {b.size}")
    if min(a.size) < _WINDOW:
        raise ValueError(f"images must be at least {_WINDOW} px on each side")
    x, y = luma(a), luma(b)
    w = _gaussian()
    c1, c2 = (_K1 * _L) ** 2, (_K2 * _L) ** 2
    mx, my = _filter(x, w), _filter(y, w)
    sxx = _filter(x * x, w) - mx * mx
    syy = _filter(y * y, w) - my * my
    sxy = _filter(x * y, w) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())
