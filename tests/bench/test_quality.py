"""The bench's SSIM (bench/quality.py) against values scikit-image 0.26 gives for the same
pairs (`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)` on the same luma planes), and its basic properties."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

pytest.importorskip("numpy", reason="numpy comes with the bench extra")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.quality import ssim


def _scene() -> Image.Image:
    return Image.effect_mandelbrot((640, 480), (-2, -1.5, 1, 1.5), 100).convert("RGB")


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_identical_images_score_one() -> None:
    scene = _scene()
    assert ssim(scene, scene.copy()) == pytest.approx(1.0)


def test_matches_scikit_image_on_blur_and_jpeg_loss() -> None:
    scene = _scene()
    assert ssim(scene, scene.filter(ImageFilter.GaussianBlur(1.2))) == pytest.approx(
        0.955887, abs=1e-6
    )
    assert ssim(scene, _jpeg(scene, 30)) == pytest.approx(0.963105, abs=1e-6)


def test_more_blur_scores_lower() -> None:
    scene = _scene()
    light = ssim(scene, scene.filter(ImageFilter.GaussianBlur(0.8)))
    heavy = ssim(scene, scene.filter(ImageFilter.GaussianBlur(2.5)))
    assert 1.0 > light > heavy


def test_alpha_is_flattened_on_white() -> None:
    scene = _scene()
    transparent = scene.convert("RGBA")
    transparent.putalpha(0)
    white = Image.new("RGB", scene.size, (255, 255, 255))
    assert ssim(transparent, white) == pytest.approx(1.0)


def test_refuses_different_sizes_and_tiny_images() -> None:
    scene = _scene()
    with pytest.raises(ValueError, match="sizes differ"):
        ssim(scene, scene.resize((320, 240)))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(scene.resize((8, 8)), scene.resize((8, 8)))
