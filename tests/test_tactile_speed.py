"""The fast paths of Stage II (issue #15 item 6) give what the plain formulations they replaced give:
each is checked against that plain formulation, written out here as the oracle."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import fft
from scipy.ndimage import binary_fill_holes
from scipy.spatial import cKDTree

from inspection import paths
from inspection.tactile import poisson
from inspection.tactile.calibration import Calibration
from inspection.tactile.classifier import TactileClassifier, build_network
from inspection.tactile.difference import channel_sum, fill_holes
from inspection.tactile.measure import fit_surface
from inspection.tactile.reference import PatchBank


def test_lookup_matches_fancy_indexing_exactly() -> None:
    calibration = Calibration.load(paths.model_file("tactile_calibration.npz"))
    rng = np.random.default_rng(0)
    diff = rng.uniform(calibration.low - 10, calibration.high + 10, (240, 320, 3)).astype(np.float32)
    b = calibration.bins
    scale = (b / (calibration.high - calibration.low)).astype(np.float32)
    idx = ((diff - calibration.low.astype(np.float32)) * scale).astype(np.int32)
    np.clip(idx, 0, b - 1, out=idx)
    expected = calibration.table.reshape(-1, 2)[(idx[..., 0] * b + idx[..., 1]) * b + idx[..., 2]]
    grad_x, grad_y = calibration.lookup(diff)
    assert np.array_equal(grad_x, expected[..., 0]) and np.array_equal(grad_y, expected[..., 1])


def test_float32_poisson_matches_float64() -> None:
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:240, 0:320] * 5.8e-5
    # a 1 mm press with a 0.2 mm dent and noise: heights as the reconstruction meets them (metres, slopes < 1)
    field = 1e-3 * np.exp(-((xs - 0.009) ** 2 + (ys - 0.007) ** 2) / 2e-5) \
        - 2e-4 * np.exp(-((xs - 0.01) ** 2 + (ys - 0.006) ** 2) / 1e-6) + rng.normal(0, 1e-7, xs.shape)
    gx, gy = (g / 5.8e-5 for g in poisson.forward_gradients(field))
    single = poisson.integrate(gx.astype(np.float32), gy.astype(np.float32), 5.8e-5)
    double = poisson.integrate(gx, gy, 5.8e-5)
    assert single.dtype == np.float32 and double.dtype == np.float64
    assert np.max(np.abs(single - double)) < 1e-5 * np.max(np.abs(double))
    # and float64 is the textbook solve: DCT, divide by the Laplacian's eigenvalues, inverse DCT
    coeffs = fft.dctn(poisson.divergence(gx, gy) * 5.8e-5, type=2, norm="ortho")
    ky = 2 * np.cos(np.pi * np.arange(240) / 240) - 2
    kx = 2 * np.cos(np.pi * np.arange(320) / 320) - 2
    eig = ky[:, None] + kx[None, :]
    eig[0, 0] = 1.0
    coeffs /= eig
    coeffs[0, 0] = 0.0
    assert np.allclose(double, fft.idctn(coeffs, type=2, norm="ortho"), rtol=0, atol=1e-12)
    assert np.allclose(double - double.mean(), field - field.mean(), atol=1e-9)


def test_fill_holes_and_channel_sum_match_scipy_and_numpy() -> None:
    rng = np.random.default_rng(2)
    for density in (0.3, 0.5, 0.7):
        mask = rng.random((60, 80)) < density
        assert np.array_equal(fill_holes(mask), binary_fill_holes(mask))
    image = rng.normal(size=(240, 320, 3)).astype(np.float32)
    assert np.allclose(channel_sum(image), image.sum(axis=2), atol=1e-5)


def test_separable_surface_matches_the_full_basis() -> None:
    rng = np.random.default_rng(3)
    h, w = 240, 320
    ys, xs = np.mgrid[0:h, 0:w]
    u, v = xs / w - 0.5, ys / h - 0.5
    height = 0.3 + 0.2 * u - 0.1 * v + 0.5 * u * u - 0.3 * u * v + 0.4 * v * v + rng.normal(0, 1e-3, (h, w))
    surface = fit_surface(height.astype(np.float32), np.ones((h, w), bool))
    assert np.max(np.abs(surface - (0.3 + 0.2 * u - 0.1 * v + 0.5 * u * u - 0.3 * u * v + 0.4 * v * v))) < 1e-3


def test_patch_search_is_the_exact_nearest_neighbour() -> None:
    rng = np.random.default_rng(4)
    good = [rng.normal(size=(1000, 27)).astype(np.float32) * rng.uniform(0.5, 3, 27).astype(np.float32)
            for _ in range(3)]
    bank = PatchBank.fit(good)
    descriptors = (rng.normal(size=(38, 52, 27)) * 2).astype(np.float32)
    query = (descriptors.reshape(-1, 27) - bank.mean) @ bank.projection
    exact, _ = cKDTree(bank.patches.astype(np.float64)).query(query.astype(np.float64), k=1)
    assert np.allclose(bank.distances(descriptors).ravel(), exact, rtol=1e-4, atol=1e-3)


def test_fused_classifier_gives_the_trained_networks_probabilities() -> None:
    weights = paths.model_file("tactile_classifier.pt")
    classifier = TactileClassifier(weights)
    plain = build_network(len(classifier.classes))
    plain.load_state_dict(torch.load(weights, weights_only=True))
    plain.eval()
    inputs = np.random.default_rng(5).normal(size=(3, 4, 120, 160)).astype(np.float32)
    with torch.inference_mode():
        expected = torch.softmax(plain(torch.from_numpy(inputs)), dim=1).numpy()
    assert classifier.predict_batch(inputs) == pytest.approx(expected, abs=1e-5)
