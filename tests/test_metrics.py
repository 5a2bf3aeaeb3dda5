"""SSIMULACRA 2 and Butteraugli wrappers (pillow_nnc.metrics) on small generated images."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pillow_nnc import metrics


def _scene(w: int = 96, h: int = 64) -> np.ndarray:
    """Smooth colour ramps with a hard-edged box and some text-like strokes."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([255 * x / (w - 1), 128 + 100 * np.sin(y / 5), 200 - 150 * y / (h - 1)], -1)
    rgb[h // 4 : h // 2, w // 4 : w // 2] = (20, 40, 220)
    rgb[h - 12 : h - 9, 8 : w - 8 : 3] = 0
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _blur(a: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(radius)))


def _noisy(a: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0, sigma, a.shape)
    return np.clip(a + noise, 0, 255).astype(np.uint8)


def test_ssimulacra2_is_100_for_identical_images() -> None:
    a = _scene()
    assert metrics.ssimulacra2_rgb(a, a.copy()) == pytest.approx(100.0)


def test_ssimulacra2_orders_distortions() -> None:
    a = _scene()
    mild, strong = metrics.ssimulacra2_rgb(a, _blur(a, 0.6)), metrics.ssimulacra2_rgb(a, _blur(a, 2.0))
    assert 100 > mild > strong
    little, much = metrics.ssimulacra2_rgb(a, _noisy(a, 3)), metrics.ssimulacra2_rgb(a, _noisy(a, 20))
    assert 100 > little > much


def test_ssimulacra2_small_images() -> None:
    """A 32x32 thumbnail is scored (libjxl's 4 scales); under 8 px a side is refused, as libjxl does."""
    a = _scene(32, 32)
    assert metrics.ssimulacra2_rgb(a, a) == pytest.approx(100.0)
    assert metrics.ssimulacra2_rgb(a, _blur(a, 0.6)) > metrics.ssimulacra2_rgb(a, _blur(a, 2.0))
    with pytest.raises(ValueError, match="8x8"):
        metrics.ssimulacra2_rgb(a[:7], a[:7])
    with pytest.raises(ValueError, match="shape"):
        metrics.ssimulacra2_rgb(a, a[:16])


def test_ssimulacra2_blur_is_a_normalised_gaussian_like_kernel() -> None:
    """libjxl's recursive Gaussian as 9 taps: symmetric, sums to 1, close to a sampled sigma-1.5 Gaussian."""
    k = metrics._S2_KERNEL
    i = np.arange(-(k.size // 2), k.size // 2 + 1)
    g = np.exp(-0.5 * (i / 1.5) ** 2)
    assert k.size == 9 and k.sum() == pytest.approx(1.0) and np.allclose(k, k[::-1])
    assert np.abs(k - g / g.sum()).max() < 0.003


def test_butteraugli_without_the_binary_is_none(monkeypatch) -> None:
    monkeypatch.setattr(metrics, "butteraugli_binary", lambda: None)
    a = _scene()
    assert metrics.butteraugli_rgb(a, a) is None and metrics.butteraugli_norms(a, a) is None


@pytest.mark.skipif(metrics.butteraugli_binary() is None,
                    reason="butteraugli_main not installed (Debian package libjxl-devtools)")
def test_butteraugli_is_0_for_identical_images_and_orders_distortions() -> None:
    a = _scene()
    assert metrics.butteraugli_norms(a, a.copy()) == (0.0, 0.0)
    little, much = metrics.butteraugli_norms(a, _noisy(a, 3)), metrics.butteraugli_norms(a, _noisy(a, 20))
    assert 0 < little[0] < much[0] and 0 < little[1] < much[1]
    assert little[1] <= little[0]  # the 3-norm never exceeds the max-norm
    assert metrics.butteraugli_rgb(a, _blur(a, 0.6)) < metrics.butteraugli_rgb(a, _blur(a, 2.0))
