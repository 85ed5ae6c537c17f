"""No NaN or inf anywhere: histories up to x = 5000 and T = 500, parameters from 1e-3 to 1e3."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from clvpredict.beta_geo import (
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases,
    bgnbd_probability_alive,
)
from clvpredict.modified_beta_geo import (
    mbgnbd_conditional_expected_purchases,
    mbgnbd_probability_alive,
)

VALUES = (1e-3, 1.0, 1e3)
X = np.array([0.0, 1.0, 30.0, 5000.0])
T = np.array([1e-3, 39.0, 500.0])
X_GRID, T_GRID = (g.ravel() for g in np.meshgrid(X, T))
TX_GRID = np.where(X_GRID > 0, 0.6 * T_GRID, 0.0)


@pytest.mark.parametrize(
    ("expectation", "alive"),
    [
        (bgnbd_conditional_expected_purchases, bgnbd_probability_alive),
        (mbgnbd_conditional_expected_purchases, mbgnbd_probability_alive),
    ],
    ids=["BG/NBD", "MBG/NBD"],
)
def test_expectations_are_finite_and_bounded_on_the_grid(expectation, alive):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for r, alpha, a, b in itertools.product(VALUES, repeat=4):
            p_alive = alive(r, alpha, a, b, X_GRID, TX_GRID, T_GRID)
            assert np.all((p_alive >= 0) & (p_alive <= 1))
            for t in (0.1, 52.0, 1000.0):
                value = expectation(t, r, alpha, a, b, X_GRID, TX_GRID, T_GRID)
                assert np.all(np.isfinite(value)), (r, alpha, a, b, t)
                # An alive customer buys at most (r + x) t / (alpha + T) on average.
                bound = (r + X_GRID) * t / (alpha + T_GRID)
                assert np.all((value >= 0) & (value <= bound * (1 + 1e-9) + 1e-12))


def test_new_customer_expectation_is_finite_on_the_grid():
    for r, alpha, a, b in itertools.product(VALUES, repeat=4):
        value = bgnbd_expected_purchases(np.array([0.1, 52.0, 1000.0]), r, alpha, a, b)
        assert np.all(np.isfinite(value) & (value >= 0)), (r, alpha, a, b)
