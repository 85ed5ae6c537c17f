"""Weighted sums of expected purchases over horizons (the CLV's monthly sums).

The BG/NBD and MBG/NBD form them by interpolating the residual mean between Chebyshev points
with a proven error bound (``beta_geo._bg_residual_sums``). Here they are checked against FHL
eq. 10 evaluated in 40-digit arithmetic with mpmath at hard points (heavy buyers, ``z`` near its
largest value, tiny horizons relative to ``T``), and against the horizon-by-horizon path on
whole populations.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import clvpredict as cp
from clvpredict.clv import _horizon_weights
from clvpredict.models import beta_geo

#: Months in weeks (an average Gregorian month is 30.436875 days).
MONTH = 30.436875 / 7.0


def _eq10(t, r, alpha, a, b, x, t_x, T, shift=0):
    """FHL (2005) eq. 10 as printed, in 40 digits; ``shift`` = 1 gives the MBG/NBD residual
    (dropout Beta(a, b + x + 1)) with the BG/NBD P(alive) left to the caller."""
    with mp.workdps(40):
        t, r, alpha, a, b, x, t_x, T = map(mp.mpf, (t, r, alpha, a, b, x, t_x, T))
        bb = b + shift
        z = t / (alpha + T + t)
        return (
            (a + bb + x - 1)
            / (a - 1)
            * (
                1
                - ((alpha + T) / (alpha + T + t)) ** (r + x)
                * mp.hyp2f1(r + x, bb + x, a + bb + x - 1, z)
            )
        )


def _bg_alive(r, alpha, a, b, x, t_x, T):
    with mp.workdps(40):
        if x == 0:
            return mp.mpf(1)
        r, alpha, a, b, x, t_x, T = map(mp.mpf, (r, alpha, a, b, x, t_x, T))
        return 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))


def _population(frequencies, per_frequency, t_low, t_high, rng):
    """``per_frequency`` customers of each frequency, T log-uniform on [t_low, t_high] (both
    ends included), recency uniform below T."""
    x = np.repeat(np.asarray(frequencies, dtype=float), per_frequency)
    big_t = np.exp(rng.uniform(np.log(t_low), np.log(t_high), len(x)))
    ends = np.arange(0, len(x), per_frequency)
    big_t[ends] = t_low
    big_t[ends + 1] = t_high
    t_x = np.where(x > 0, big_t * rng.uniform(0.0, 1.0, len(x)), 0.0)
    return {"frequency": x, "recency": t_x, "T": big_t}


class _Counting:
    """Counts the points at which the residual mean is evaluated."""

    def __init__(self, monkeypatch):
        self.points = 0
        original = beta_geo._bg_residual_mean

        def counted(t, *args):
            result = original(t, *args)
            self.points += np.size(result)
            return result

        monkeypatch.setattr(beta_geo, "_bg_residual_mean", counted)


# (r, alpha, a, b): CDNOW's estimates; a > 1 with a small alpha, so that z = t/(alpha+T+t)
# reaches 0.99 at T near 0; a large b (the closed form cancels, quadrature at the points).
CDNOW = (0.2426, 4.4135, 0.7929, 2.4258)
SMALL_ALPHA = (2.0, 0.5, 3.0, 8.0)
LARGE_B = (0.6, 2.0, 0.4, 150.0)
BG, MBG = cp.BetaGeoModel, cp.ModifiedBetaGeoModel


def _model(model_class, theta):
    return model_class.from_params(
        dict(zip(("r", "alpha", "a", "b"), theta, strict=True)), time_unit="W"
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    ("model_class", "theta", "frequencies"),
    [
        (BG, CDNOW, [0, 1, 7, 60, 200]),
        (MBG, CDNOW, [0, 1, 7, 60, 200]),
        (BG, LARGE_B, [0, 1, 7, 60, 200]),
        (MBG, LARGE_B, [0, 2, 30]),
        # x + r - a + 1 is a whole number: quadrature wherever z > 0.9, at the points too.
        (BG, SMALL_ALPHA, [0, 7]),
    ],
)
def test_interpolated_sums_agree_with_eq10_in_high_precision(
    model_class, theta, frequencies, monkeypatch
):
    """T from 0.01 to 500 weeks: z = t/(alpha+T+t) from 0.008 to 0.99 over the year."""
    rng = np.random.default_rng(11)
    per_frequency = 2000
    arrays = _population(frequencies, per_frequency, 0.01, 500.0, rng)
    model = _model(model_class, theta)
    horizon = 12
    ts = [m * MONTH for m in range(1, horizon + 1)]
    weights = _horizon_weights(horizon, 0.10)
    counting = _Counting(monkeypatch)
    sums = model._purchase_sums(ts, weights, np.array(theta), arrays)
    # The special functions ran at the interpolation points, not at every customer.
    assert counting.points < len(arrays["T"]) * horizon / 4
    shift = model._dropout_shift
    alive = type(model)._alive(*theta, arrays["frequency"], arrays["recency"], arrays["T"])
    # Both ends of every frequency's range of T and a few customers between.
    checked = np.concatenate([np.arange(i, i + 5) for i in range(0, len(alive), per_frequency)])
    for i in checked:
        x, t_x, big_t = (arrays[c][i] for c in ("frequency", "recency", "T"))
        residuals = np.array([float(_eq10(t, *theta, x, t_x, big_t, shift)) for t in ts])
        if shift == 0:
            assert alive[i] == pytest.approx(float(_bg_alive(*theta, x, t_x, big_t)), rel=1e-13)
        expected = alive[i] * (residuals @ weights)
        np.testing.assert_allclose(sums[i], expected, rtol=1e-10, atol=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    ("model_class", "theta", "horizon", "rate"),
    [
        (BG, CDNOW, 12, 0.10),
        (BG, CDNOW, 1, 0.0),
        (BG, CDNOW, 36, 0.3),
        (MBG, CDNOW, 12, 0.10),
        (BG, SMALL_ALPHA, 12, 0.0),
        (MBG, LARGE_B, 24, 0.10),
    ],
)
def test_interpolated_sums_equal_the_horizon_by_horizon_sums(model_class, theta, horizon, rate):
    """Customers of 42 frequencies, most of them interpolated, a few heavy buyers evaluated
    one by one."""
    rng = np.random.default_rng(5)
    arrays = _population([*range(0, 40), 75, 300], 40, 20.0, 80.0, rng)
    model = _model(model_class, theta)
    ts = [m * MONTH for m in range(1, horizon + 1)]
    weights = _horizon_weights(horizon, rate)
    fast = model._purchase_sums(ts, weights, np.array(theta), arrays)
    by_horizon = model._cumulative_purchases(ts, np.array(theta), arrays) @ weights
    np.testing.assert_allclose(fast, by_horizon, rtol=1e-11, atol=0)


def test_a_customers_sums_do_not_depend_on_who_else_is_scored():
    """The pieces of the interpolation are a fixed grid: a customer scored alone, in a batch
    or among everybody gets the same numbers to the last bit."""
    rng = np.random.default_rng(2)
    arrays = _population([0, 1, 2, 5, 13, 40], 300, 0.5, 120.0, rng)
    model = _model(BG, CDNOW)
    ts = [m * MONTH for m in range(1, 13)]
    weights = _horizon_weights(12, 0.1)
    theta = np.array(CDNOW)
    everybody = model._purchase_sums(ts, weights, theta, arrays)
    for rows in (np.array([7]), np.array([1500, 3]), rng.permutation(1800)[:500]):
        part = {c: v[rows] for c, v in arrays.items()}
        assert np.array_equal(model._purchase_sums(ts, weights, theta, part), everybody[rows])


def test_degree_bound_holds_on_a_wide_range():
    """The interpolation error stays below the bound the degree was chosen for, measured
    against mpmath on a dense grid of a range 13 pieces wide. (The bound is far from tight:
    the error is at rounding level here.)"""
    r, alpha, a, b = CDNOW
    x, t_max, tol = 7.0, 12 * MONTH, 1e-6
    lo, hi = np.log1p(t_max / (alpha + 300.0)), np.log1p(t_max / (alpha + 0.01))

    def q(v):
        s = mp.expm1(v)
        return _eq10(t_max, r, alpha, a, b, x, 0.0, t_max / s - alpha) / s

    with mp.workdps(40):
        floor = np.array([[float(q(mp.mpf(hi)))]])
    k = np.array([r + x])
    (degree,) = beta_geo._chebyshev_degrees(
        np.array([lo]), (hi - lo) / 2, k, k[:, None], floor, tol
    )
    assert 3 < degree <= beta_geo._SUMS_MAX_DEGREE
    points = np.cos(np.pi * np.arange(degree + 1) / degree)
    values = np.array([float(q(mp.mpf(v))) for v in (lo + hi) / 2 + (hi - lo) / 2 * points])
    interpolant = np.polynomial.chebyshev.Chebyshev.fit(points, values, degree)
    grid = np.linspace(lo, hi, 201)
    exact = np.array([float(q(mp.mpf(v))) for v in grid])
    error = np.abs(interpolant((grid - (lo + hi) / 2) / ((hi - lo) / 2)) - exact) / floor[0, 0]
    assert error.max() <= tol
