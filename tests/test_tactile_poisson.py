"""Poisson integration: exact on forward-difference gradients, accurate on analytic shapes."""
from __future__ import annotations

import numpy as np

from inspection.tactile import poisson


def test_forward_gradients_are_inverted_to_machine_precision():
    rng = np.random.default_rng(0)
    field = rng.normal(size=(48, 64))
    gx, gy = poisson.forward_gradients(field)
    out = poisson.integrate(gx, gy)
    assert np.max(np.abs((out - out.mean()) - (field - field.mean()))) < 1e-9


def test_analytic_paraboloid_from_centred_slopes():
    # z = 0.5 (x^2 + y^2) / R over a 320x240 grid of 58 um pixels, R = 20 mm: slopes x/R, y/R.
    pixel, radius = 5.8e-5, 0.02
    ys, xs = np.mgrid[0:240, 0:320].astype(float)
    x, y = (xs - 159.5) * pixel, (ys - 119.5) * pixel
    truth = 0.5 * (x * x + y * y) / radius
    fx, fy = poisson.centred_to_forward(x / radius, y / radius)
    out = poisson.integrate(fx, fy, pixel)
    error = (out - out.mean()) - (truth - truth.mean())
    # Tolerance: 0.5 um against a 1.4 mm sag (the half-pixel shift is exact for a quadratic).
    assert np.max(np.abs(error)) < 5e-7


def test_mismatched_gradients_are_refused():
    import pytest

    with pytest.raises(ValueError):
        poisson.integrate(np.zeros((4, 5)), np.zeros((5, 4)))
