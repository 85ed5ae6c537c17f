"""No NaN or inf anywhere, for every registered calendar-time purchase model: histories up to
x = 5000 and T = 500, parameters from 1e-3 to 1e3."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from clvpredict._registry import all_models

#: Every registered purchase model in calendar time: each is (r, alpha, ...) for its purchases.
CALENDAR = all_models("purchase", discrete_time=False)

VALUES = (1e-3, 1.0, 1e3)
X = np.array([0.0, 1.0, 30.0, 5000.0])
T = np.array([1e-3, 39.0, 500.0])
X_GRID, T_GRID = (g.ravel() for g in np.meshgrid(X, T))
TX_GRID = np.where(X_GRID > 0, 0.6 * T_GRID, 0.0)


@pytest.mark.parametrize("spec", CALENDAR, ids=[s.kind for s in CALENDAR])
def test_expectations_are_finite_and_bounded_on_the_grid(spec):
    expectation, alive = spec.cls._conditional_expectation, spec.cls._alive
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for theta in itertools.product(VALUES, repeat=len(spec.cls._param_names)):
            p_alive = alive(*theta, X_GRID, TX_GRID, T_GRID)
            assert np.all((p_alive >= 0) & (p_alive <= 1)), theta
            r, alpha = theta[:2]
            for t in (0.1, 52.0, 1000.0):
                value = expectation(t, *theta, X_GRID, TX_GRID, T_GRID)
                assert np.all(np.isfinite(value)), (theta, t)
                # An alive customer buys at most (r + x) t / (alpha + T) on average.
                bound = (r + X_GRID) * t / (alpha + T_GRID)
                assert np.all((value >= 0) & (value <= bound * (1 + 1e-9) + 1e-12)), (theta, t)


@pytest.mark.parametrize("spec", CALENDAR, ids=[s.kind for s in CALENDAR])
def test_new_customer_expectation_is_finite_on_the_grid(spec):
    ts = np.array([0.1, 52.0, 1000.0])
    for theta in itertools.product(VALUES, repeat=len(spec.cls._param_names)):
        value = spec.cls._new_customer_expectation(ts, *theta)
        assert np.all(np.isfinite(value) & (value >= 0)), theta
        # Never more than a customer who never leaves: r t / alpha.
        r, alpha = theta[:2]
        assert np.all(value <= r * ts / alpha * (1 + 1e-9)), theta
