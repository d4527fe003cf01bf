"""The fast paths of Stage II (issue #15 item 6) give what the plain formulations they replaced give:
each is checked against that plain formulation, written out here as the oracle."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from scipy import fft
from scipy.ndimage import binary_fill_holes, label
from scipy.spatial import cKDTree

from inspection import paths
from inspection.errors import InputError
from inspection.tactile import anomaly, order_statistics, poisson
from inspection.tactile.calibration import Calibration
from inspection.tactile.classifier import DIFF_SCALE, HEIGHT_SCALE, TactileClassifier, build_network, network_input
from inspection.tactile.difference import BackgroundModel, ContactCandidates, channel_sum, contact_candidates, \
    detect_contact, fill_holes
from inspection.tactile.measure import fit_surface, surface_residual, touching_region
from inspection.tactile.reconstruct import Reconstruction, Reconstructor
from inspection.tactile.reference import PatchBank
from inspection.tactile.stage import StageTwo


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
    # and on the bin edges, where the floor of the bin position and a cast to int must agree
    edges = (calibration.low.astype(np.float32) + np.arange(-2, b + 3)[:, None, None] / scale).astype(np.float32)
    edges = np.concatenate([np.nextafter(edges, -np.inf), edges, np.nextafter(edges, np.inf)], axis=1)
    idx = np.clip(((edges - calibration.low.astype(np.float32)) * scale).astype(np.int32), 0, b - 1)
    expected = calibration.table.reshape(-1, 2)[(idx[..., 0] * b + idx[..., 1]) * b + idx[..., 2]]
    grad_x, grad_y = calibration.lookup(edges)
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


def test_background_blur_is_opencvs_gaussian() -> None:
    """The two matrix products give OpenCV's Gaussian blur, its reflect-101 border included, at any frame size."""
    rng = np.random.default_rng(10)
    for h, w in ((120, 160), (97, 131)):
        image = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 2.0)
        expected = cv2.GaussianBlur(image, (0, 0), anomaly.BACKGROUND_SIGMA_PX)
        assert np.max(np.abs(anomaly.background_level(image) - expected)) < 1e-5 * np.max(np.abs(expected))


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


def test_order_statistics_are_numpys_to_the_last_bit() -> None:
    rng = np.random.default_rng(6)
    for trial in range(400):
        dtype = (np.float32, np.float64)[trial % 2]
        values = (rng.normal(size=int(rng.integers(1, 300))) * rng.uniform(1e-3, 1e3)).astype(dtype)
        if trial % 3 == 0:
            values = np.round(values)  # ties
        for q in (0.0, 1.0, 25.0, 50.0, 99.0, 100.0, float(rng.uniform(0, 100))):
            assert order_statistics.percentile(values, q) == float(np.percentile(values, q))
        assert order_statistics.median(values) == float(np.median(values))
        pixels = rng.normal(size=(len(values), 3)).astype(np.float32)
        assert np.array_equal(order_statistics.channel_medians(pixels), np.median(pixels, axis=0))


def test_poisson_from_centred_slopes_is_the_two_step_solve() -> None:
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:240, 0:320] * 5.8e-5
    field = 1e-3 * np.exp(-((xs - 0.009) ** 2 + (ys - 0.007) ** 2) / 2e-5) + rng.normal(0, 1e-7, xs.shape)
    grad_y, grad_x = (g.astype(np.float32) for g in np.gradient(field, 5.8e-5))
    two_step = poisson.integrate(*poisson.centred_to_forward(grad_x, grad_y), 5.8e-5)
    one_pass = poisson.integrate_centred(grad_x, grad_y, 5.8e-5)
    assert one_pass.dtype == np.float32
    assert np.max(np.abs(one_pass - two_step)) < 1e-5 * np.max(np.abs(two_step))
    with pytest.raises(ValueError):
        poisson.integrate_centred(grad_x, grad_y[:, :-1])


def test_surface_fit_is_the_plain_robust_fit() -> None:
    """The normal equations from 0/1-weighted sample products give the fit of the selected rows."""
    rng = np.random.default_rng(8)
    h, w, step = 240, 320, 4
    ys, xs = np.mgrid[0:h, 0:w]
    u, v = (xs / w - 0.5).astype(np.float32), (ys / h - 0.5).astype(np.float32)
    height = 0.3 + 0.2 * u - 0.1 * v + 0.5 * u * u - 0.3 * u * v + 0.4 * v * v + rng.normal(0, 2e-3, (h, w))
    height[100:130, 150:200] -= 0.2  # a dent: the outliers the robust fit drops
    mask = np.ones((h, w), bool)
    mask[:, :20] = False
    height = height.astype(np.float32)
    su, sv = u[::step, ::step].ravel().astype(np.float64), v[::step, ::step].ravel().astype(np.float64)
    basis = np.stack([np.ones_like(su), su, sv, su * su, su * sv, sv * sv], axis=1)
    values = height[::step, ::step].ravel().astype(np.float64)
    keep = mask[::step, ::step].ravel().copy()
    for _ in range(4):
        a = basis[keep]
        coeffs = np.linalg.solve(a.T @ a + 1e-9 * np.eye(6), a.T @ values[keep])
        residual = values - basis @ coeffs
        keep &= np.abs(residual) < 3.0 * (1.4826 * np.median(np.abs(residual[keep])) + 1e-4)
    c = coeffs
    expected = c[0] + c[1] * u + c[2] * v + c[3] * u * u + c[4] * u * v + c[5] * v * v
    assert np.max(np.abs(fit_surface(height, mask, step) - expected)) < 1e-5


def test_network_input_is_the_plain_stack() -> None:
    rng = np.random.default_rng(9)
    diff = rng.normal(0, 60, (240, 320, 3)).astype(np.float32)
    residual = rng.normal(0, 0.3, (240, 320)).astype(np.float32)
    rec = Reconstruction(diff=diff, contact_evidence=np.ones((240, 320), bool), height_mm=residual, pixel_size_m=5.8e-5)
    size = (160, 120)
    plain = np.concatenate([cv2.resize(diff, size, interpolation=cv2.INTER_AREA) / DIFF_SCALE,
                            (cv2.resize(residual, size, interpolation=cv2.INTER_AREA) * HEIGHT_SCALE)[..., None]],
                           axis=2).transpose(2, 0, 1)
    assert np.array_equal(network_input(rec, residual), np.clip(plain, -5.0, 5.0).astype(np.float32))


def test_saturation_check_counts_pixels_with_any_channel_at_254() -> None:
    """Rejected above half the pixels saturated, as the numpy maximum over the channels counted them."""
    stage = StageTwo.load(paths.model_file("tactile_calibration.npz"), paths.model_file("tactile_classifier.pt"))
    frame = np.full((240, 320, 3), 120, np.uint8)
    half = frame.shape[0] * frame.shape[1] // 2
    flat = frame.reshape(-1, 3)
    flat[:half:3, 0] = 254
    flat[1:half:3, 1] = 255
    flat[2:half:3, 2] = 254
    flat[half:, 2] = 253  # not saturated
    assert float((frame.max(axis=2) >= 254).mean()) == 0.5
    stage.check_frame(frame)  # exactly half: accepted
    flat[half, 1] = 254
    with pytest.raises(InputError, match="saturated"):
        stage.check_frame(frame)
    with pytest.raises(InputError, match="saturated"):
        stage.check_frame(np.full((240, 640, 3), 255, np.uint8)[:, ::2])  # a strided view, as a slice gives


def _plain_contact_mask(closed: np.ndarray, min_area_px: int) -> np.ndarray:
    """Components (8-connected) of at least ``min_area_px`` pixels, holes filled, by scipy."""
    labels, count = label(closed, structure=np.ones((3, 3), bool))
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    return binary_fill_holes((areas >= min_area_px)[labels] & (labels > 0))


def test_contact_mask_and_question_match_scipy() -> None:
    """The mask drops small components and fills holes as scipy does, by 8-bit labels below 257 components and
    32-bit ones above; ``any`` says what the mask says, by a solid square, a pixel count or the labels."""
    rng = np.random.default_rng(11)
    ring = np.zeros((240, 320), np.uint8)
    cv2.circle(ring, (160, 120), 40, 1, 1)  # 250 px, hollow: no 8x8 square, the labels must answer
    big = np.zeros((240, 320), np.uint8)
    cv2.circle(big, (60, 50), 20, 1, -1)
    big[big.shape[0] // 2 - 10:, :] = rng.random((big.shape[0] - 110, 320)) < 0.5  # many components
    speckle = (rng.random((240, 320)) < 0.02).astype(np.uint8)  # isolated pixels: more than 256 components
    tiny = np.zeros((240, 320), np.uint8)
    tiny[100:105, 100:110] = 1  # 50 px
    for closed in (ring, big, speckle, tiny, np.zeros((240, 320), np.uint8)):
        for min_area_px in (1, 60, 64, 65, 251):
            candidates = ContactCandidates(closed, min_area_px)
            expected = _plain_contact_mask(closed, min_area_px)
            assert np.array_equal(candidates.mask(), expected)
            assert candidates.any() == bool(expected.any())
    assert label(speckle, structure=np.ones((3, 3), bool))[1] > 256


def test_contact_mask_is_made_on_first_read_as_detect_contact_makes_it() -> None:
    """A reconstruction answers ``contact_found`` without making the mask; read, the mask is detect_contact's,
    and a copy with another colour difference keeps the original's contact."""
    calibration = Calibration.load(paths.model_file("tactile_calibration.npz"))
    rng = np.random.default_rng(12)
    background = np.full((240, 320, 3), 120, np.uint8)
    reconstructor = Reconstructor(calibration, background)
    ys, xs = np.mgrid[0:240, 0:320]
    found = []
    for radius in (0, 1, 3, 30):  # nothing, specks, a press
        shading = 40.0 * np.exp(-((xs - 150) ** 2 + (ys - 110) ** 2) / (2.0 * max(radius, 1) ** 2)) * (radius > 0)
        frame = np.clip(background + shading[..., None] * [1.0, -0.5, 0.3] + rng.normal(0, 1.0, background.shape),
                        0, 255).astype(np.uint8)
        rec = reconstructor.reconstruct(frame)
        expected = detect_contact(rec.diff)
        found.append(rec.contact_found)
        assert rec.contact_found == bool(expected.any())
        assert np.array_equal(rec.contact, expected)
        assert np.array_equal(Reconstruction(rec.diff, contact_candidates(rec.diff), rec.height_mm,
                                             rec.pixel_size_m).contact, expected)
        copy = replace(rec, diff=np.zeros_like(rec.diff))
        assert np.array_equal(copy.contact, expected) and copy.contact_found == rec.contact_found
    assert found[0] is False and found[-1] is True


def test_surface_residual_is_the_difference_where_bridged() -> None:
    """One masked OpenCV subtraction gives np.where(bridged, height - surface, 0), bit for bit."""
    rng = np.random.default_rng(13)
    ys, xs = np.mgrid[0:240, 0:320]
    height = (0.4 * np.exp(-((xs - 160) ** 2 + (ys - 120) ** 2) / 4000.0) + rng.normal(0, 0.002, xs.shape))
    height = height.astype(np.float32)
    height[100:110, 150:170] -= 0.05  # a dent
    rec = Reconstruction(np.zeros((240, 320, 3), np.float32), np.ones((240, 320), bool), height, 5.8e-5)
    touching = touching_region(rec)
    assert 0.2 < touching.mean() < 0.9
    inner = cv2.erode(touching.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    expected = np.where(fill_holes(touching), height - fit_surface(height, inner), np.float32(0.0))
    residual = surface_residual(rec)
    assert residual.dtype == np.float32 and np.array_equal(residual, expected)
    assert not np.signbit(residual[~fill_holes(touching)]).any()  # +0, as np.where writes
