"""Numerical verification of the BG/NBD and Gamma-Gamma mathematics and of the fitting core.

Every expected number here is computed independently of clvpredict: by finite differences, by
adaptive quadrature of the models' defining integrals, by closed-form special cases, by
mathematical identities, or by the ``lifetimes`` oracle at the same parameters. The last group
of expectation tests pins the regions where scipy's ``hyp2f1`` is unreliable (found in review),
which the library now routes to quadrature.
"""

from __future__ import annotations

import itertools
import warnings

import lifetimes
import numpy as np
import pandas as pd
import pytest
from clvpredict.beta_geo import (
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_negll_and_gradient,
    bgnbd_probability_alive,
    bgnbd_probability_of_purchases,
)
from clvpredict.gamma_gamma import (
    gamma_gamma_expected_average_value,
    gamma_gamma_log_likelihood,
    gamma_gamma_negll_and_gradient,
)
from scipy import integrate, special, stats

import clvpredict as cp
from clvpredict.exceptions import ConvergenceWarning

CDNOW_MLE = (0.2426, 4.4135, 0.7929, 2.4258)


# ------------------------------------------------------------------------------------------
# Independent reference computations
# ------------------------------------------------------------------------------------------


def _log_param_fd_gradient(f, theta, h=1e-3):
    """d f / d log(theta_k) by central differences with one Richardson step (error O(h^4))."""
    theta = np.asarray(theta, dtype=float)
    out = np.empty_like(theta)
    for k in range(len(theta)):

        def diff(step, k=k):
            up, down = theta.copy(), theta.copy()
            up[k] *= np.exp(step)
            down[k] *= np.exp(-step)
            return (f(up) - f(down)) / (2 * step)

        out[k] = (4 * diff(h / 2) - diff(h)) / 3
    return out


def _residual_mean_quad(t, r, alpha, a, b, x, T):
    """E[(1 - (1 + p s)^-(r+x)) / p] with p ~ Beta(a, b+x) and s = t / (alpha + T).

    This is the expected number of purchases in (T, T+t] of a customer alive at T: integrate
    E[N | lambda, p] = (1 - exp(-lambda p t)) / p over the posterior lambda ~ Gamma(r+x, alpha+T)
    (closed form) and then numerically over p. Nothing here uses a hypergeometric function, so it
    is an independent check of FHL eq. 10 and has no singularity at a == 1 or a + b == 1.
    """
    s, n, be = t / (alpha + T), r + x, b + x
    log_beta = special.betaln(a, be)

    def h(p):
        return n * s if p == 0 else -np.expm1(-n * np.log1p(p * s)) / p

    mode = a / (a + be)
    sd = np.sqrt(a * be / ((a + be) ** 2 * (a + be + 1)))
    marks = [1 / (n * s), mode, mode - sd, mode + sd, mode - 3 * sd, mode + 3 * sd, mode + 10 * sd]
    marks = sorted({m for m in marks if 0 < m < 0.5})
    opts = {"epsabs": 0.0, "epsrel": 1e-12, "limit": 500}
    if a < 1:  # p = u^(1/a) absorbs the p^(a-1) endpoint singularity
        lower = integrate.quad(
            lambda u: (
                np.exp(special.xlog1py(be - 1, -(u ** (1 / a))) - log_beta) * h(u ** (1 / a)) / a
            ),
            0.0,
            0.5**a,
            points=[m**a for m in marks] or None,
            **opts,
        )[0]
    else:
        lower = integrate.quad(
            lambda p: (
                np.exp(special.xlogy(a - 1, p) + special.xlog1py(be - 1, -p) - log_beta) * h(p)
            ),
            0.0,
            0.5,
            points=marks or None,
            **opts,
        )[0]
    if be < 1:  # q = 1 - p = v^(1/be)
        upper = integrate.quad(
            lambda v: (
                np.exp(special.xlog1py(a - 1, -(v ** (1 / be))) - log_beta)
                * h(1 - v ** (1 / be))
                / be
            ),
            0.0,
            0.5**be,
            **opts,
        )[0]
    else:
        upper = integrate.quad(
            lambda q: (
                np.exp(special.xlog1py(a - 1, -q) + special.xlogy(be - 1, q) - log_beta) * h(1 - q)
            ),
            0.0,
            0.5,
            **opts,
        )[0]
    return lower + upper


def _p_alive_direct(r, alpha, a, b, x, t_x, T):
    """P(alive | x, t_x, T) as the share of the 'still alive' branch in the likelihood, in logs."""
    if x == 0:
        return 1.0
    log_alive = special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
    log_dead = special.betaln(a + 1, b + x - 1) - (r + x) * np.log(alpha + t_x)
    return float(np.exp(log_alive - np.logaddexp(log_alive, log_dead)))


def _conditional_expectation_quad(t, r, alpha, a, b, x, t_x, T):
    return _residual_mean_quad(t, r, alpha, a, b, x, T) * _p_alive_direct(r, alpha, a, b, x, t_x, T)


def _lifetimes_bg(params):
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(dict(zip(("r", "alpha", "a", "b"), params, strict=True)))
    return fitter


# ------------------------------------------------------------------------------------------
# 1. Analytic gradients vs finite differences
# ------------------------------------------------------------------------------------------

# Rows: one-time buyers (x = 0), t_x == T, t_x tiny, and heavy buyers up to x = 5000.
_BG_X = np.array([0, 0, 0, 1, 1, 2, 7, 40, 300, 1000, 5000, 5000], dtype=float)
_BG_T = np.array([0.5, 39.0, 500.0, 10.0, 39.0, 38.86, 39.0, 100.0, 500.0, 500.0, 500.0, 500.0])
_BG_TX = np.array([0, 0, 0, 10.0, 1e-3, 30.43, 20.0, 99.0, 250.0, 499.0, 1.0, 500.0])

_BG_POINTS = [
    CDNOW_MLE,
    (1e-3, 1e-3, 1e-3, 1e-3),
    (1e3, 1e3, 1e3, 1e3),
    (1e-3, 1e3, 1e3, 1e-3),
    (1e3, 1e-3, 1e-3, 1e3),
    (0.5, 10.0, 0.999999, 3.0),
    (2.0, 0.1, 50.0, 0.01),
    (30.0, 300.0, 0.05, 200.0),
]


@pytest.mark.parametrize("theta", _BG_POINTS)
def test_bgnbd_gradient_matches_finite_differences(theta):
    theta = np.array(theta)
    for i in range(len(_BG_X)):  # row by row, so no row's error hides behind a bigger one
        rows = slice(i, i + 1)

        def f(th, rows=rows):
            return float(bgnbd_log_likelihood(*th, _BG_X[rows], _BG_TX[rows], _BG_T[rows])[0])

        value, grad = bgnbd_negll_and_gradient(
            theta, _BG_X[rows], _BG_TX[rows], _BG_T[rows], np.ones(1)
        )
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        assert -value == pytest.approx(f(theta), rel=1e-14, abs=1e-12)
        analytic = -grad * theta  # d ll / d log(theta)
        numeric = _log_param_fd_gradient(f, theta)
        tol = 1e-7 * np.abs(numeric) + 1e-9 * max(1.0, abs(value))
        assert np.all(np.abs(analytic - numeric) <= tol), (i, analytic, numeric)


def test_bgnbd_weighted_gradient_is_weighted_sum_of_rows():
    theta = np.array(CDNOW_MLE)
    w = np.arange(1.0, len(_BG_X) + 1)
    value, grad = bgnbd_negll_and_gradient(theta, _BG_X, _BG_TX, _BG_T, w)
    rows = [
        bgnbd_negll_and_gradient(theta, _BG_X[i : i + 1], _BG_TX[i : i + 1], _BG_T[i : i + 1], [1])
        for i in range(len(_BG_X))
    ]
    assert value == pytest.approx(sum(wi * v for wi, (v, _) in zip(w, rows, strict=True)))
    np.testing.assert_allclose(grad, sum(wi * g for wi, (_, g) in zip(w, rows, strict=True)))


_GG_X = np.array([1, 1, 2, 7, 50, 1000, 5000], dtype=float)
_GG_Z = np.array([0.01, 22.35, 1e5, 73.74, 3.0, 10.0, 50.0])


@pytest.mark.parametrize(
    "theta",
    [(6.25, 3.74, 15.44), (1e-3, 1e-3, 1e-3), (1e3, 1e3, 1e3), (1e3, 1e-3, 1e3), (0.1, 50, 1e-3)],
)
def test_gamma_gamma_gradient_matches_finite_differences(theta):
    theta = np.array(theta)
    for i in range(len(_GG_X)):
        rows = slice(i, i + 1)

        def f(th, rows=rows):
            return float(gamma_gamma_log_likelihood(*th, _GG_X[rows], _GG_Z[rows])[0])

        value, grad = gamma_gamma_negll_and_gradient(theta, _GG_X[rows], _GG_Z[rows], np.ones(1))
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        analytic = -grad * theta
        numeric = _log_param_fd_gradient(f, theta)
        # gammaln(px + q) - gammaln(px) loses ~eps * gammaln(px) absolutely when px ~ 5e6.
        scale = max(1.0, abs(value), float(special.gammaln(theta[0] * _GG_X[i] + theta[1])))
        tol = 1e-7 * np.abs(numeric) + 1e-9 * scale
        assert np.all(np.abs(analytic - numeric) <= tol), (i, analytic, numeric)


# ------------------------------------------------------------------------------------------
# 2. Conditional and unconditional expectations (FHL eqs. 9, 10)
# ------------------------------------------------------------------------------------------

_COND_CASES = [
    # (t, r, alpha, a, b, x, t_x, T)
    (39.0, *CDNOW_MLE, 2, 30.43, 38.86),  # the published customer (1.226)
    (39.0, *CDNOW_MLE, 0, 0.0, 38.86),
    (5000.0, *CDNOW_MLE, 5000, 500.0, 500.0),  # heavy buyer, long horizon
    (500.0, *CDNOW_MLE, 1000, 499.0, 500.0),
    (1.0, *CDNOW_MLE, 5000, 100.0, 500.0),  # heavy buyer who looks dead
    (39.0, 0.2426, 4.4135, 0.3, 0.2, 0, 0.0, 38.86),  # a < 1, b < 1, a + b < 1
    (500.0, 0.2426, 4.4135, 0.3, 8.0, 30, 10.0, 39.0),
    (39.0, 0.2426, 4.4135, 0.99, 2.4258, 2, 30.43, 38.86),  # near a = 1
    (39.0, 0.2426, 4.4135, 1.01, 2.4258, 2, 30.43, 38.86),
    (104.0, 0.5, 10.0, 1.5, 0.2, 3, 20.0, 39.0),  # a > 1, b < 1
    (260.0, 2.0, 50.0, 3.0, 8.0, 1000, 450.0, 500.0),
    (13.0, 0.05, 0.5, 4.0, 40.0, 0, 0.0, 1.0),
    (5000.0, 1.0, 1.0, 0.7, 0.6, 5000, 499.0, 500.0),
]


@pytest.mark.parametrize("case", _COND_CASES)
def test_conditional_expectation_matches_quadrature(case):
    got = float(bgnbd_conditional_expected_purchases(*case))
    assert got == pytest.approx(_conditional_expectation_quad(*case), rel=1e-8, abs=0)


@pytest.mark.parametrize("params", [CDNOW_MLE, (0.5, 10.0, 0.3, 1.5), (2.0, 50.0, 2.5, 8.0)])
def test_unconditional_expectation_matches_quadrature(params):
    for t in (0.5, 1.0, 39.0, 78.0, 520.0, 5000.0):
        got = float(bgnbd_expected_purchases(t, *params))
        assert got == pytest.approx(_residual_mean_quad(t, *params, 0, 0.0), rel=1e-9, abs=0)


def test_published_customer_and_unconditional_figures(bg_cdnow):
    # REFERENCE.md: x = 2, t_x = 30.43, T = 38.86 -> 1.226 next 39 weeks, P(alive) = 0.727;
    # E[X(t)] for t = 1, 3, 32 at the full-precision MLE. The expected values come from the
    # quadrature, not from clvpredict's own formula.
    mle = tuple(bg_cdnow.params_.to_numpy())
    assert _conditional_expectation_quad(39, *mle, 2, 30.43, 38.86) == pytest.approx(
        1.226, abs=5e-4
    )
    assert _p_alive_direct(*mle, 2, 30.43, 38.86) == pytest.approx(0.727, abs=5e-4)
    for t, value in {1: 0.0532, 3: 0.1506, 32: 1.0437}.items():
        assert _residual_mean_quad(t, *mle, 0, 0.0) == pytest.approx(value, abs=5e-5)


def test_small_horizon_limit():
    # For t -> 0 the expected count is the posterior purchase rate times t: (r+x)/(alpha+T) t.
    r, alpha, a, b = CDNOW_MLE
    t = 1e-4
    for x, T in ((0, 0.0), (2, 38.86), (50, 38.86)):
        got = float(bgnbd_conditional_expected_purchases(t, r, alpha, a, b, x, T, T))
        rate = (r + x) / (alpha + T) * _p_alive_direct(r, alpha, a, b, x, T, T)
        assert got == pytest.approx(rate * t, rel=1e-3, abs=0)


def test_expectations_respect_analytic_bounds_on_a_plausible_grid():
    """Finite, >= 0, increasing in t, and below both analytic upper bounds.

    E[Y(t)] <= P(alive) (r+x) t / (alpha+T) (since 1 - (1+u)^-n <= n u) and, for a > 1,
    E[Y(t)] <= P(alive) (a+b+x-1)/(a-1) (the posterior mean of 1/p).
    """
    rng = np.random.default_rng(20260501)
    n = 20_000

    def log_uniform(lo, hi):
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n))

    r, alpha = log_uniform(0.05, 5), log_uniform(0.1, 100)
    a, b = log_uniform(0.05, 5), log_uniform(0.05, 50)
    x = np.floor(log_uniform(1, 5001)) - 1
    T = log_uniform(1, 500)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    p_alive = bgnbd_probability_alive(r, alpha, a, b, x, t_x, T)
    assert np.all((p_alive >= 0) & (p_alive <= 1))
    previous = np.zeros(n)
    for t in (0.5, 13.0, 52.0, 260.0, 1000.0):
        e = bgnbd_conditional_expected_purchases(t, r, alpha, a, b, x, t_x, T)
        assert np.all(np.isfinite(e))
        assert np.all(e >= previous * (1 - 1e-9))
        assert np.all(e <= p_alive * (r + x) * t / (alpha + T) * (1 + 1e-9) + 1e-300)
        bounded = a > 1
        mean_inv_p = (a + b + x - 1)[bounded] / (a - 1)[bounded]
        assert np.all(e[bounded] <= p_alive[bounded] * mean_inv_p * (1 + 1e-9))
        previous = e


@pytest.mark.parametrize(
    "params",
    [CDNOW_MLE, (0.5, 10.0, 0.3, 1.5), (2.0, 50.0, 2.5, 8.0), (0.1, 1.0, 1.5, 0.3)],
)
def test_agrees_with_lifetimes_at_same_parameters_including_heavy_buyers(params, cdnow_published):
    x = np.r_[cdnow_published["x"].to_numpy(float), 100, 1000, 5000, 50]
    t_x = np.r_[cdnow_published["t_x"].to_numpy(float), 300, 450, 500, 20]
    T = np.r_[cdnow_published["T"].to_numpy(float), 400, 500, 500, 500]
    oracle = _lifetimes_bg(params)
    for t in (1.0, 39.0, 104.0, 500.0):
        np.testing.assert_allclose(
            bgnbd_conditional_expected_purchases(t, *params, x, t_x, T),
            oracle.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
            rtol=1e-8,
        )
        assert float(bgnbd_expected_purchases(t, *params)) == pytest.approx(
            float(oracle.expected_number_of_purchases_up_to_time(t)), rel=1e-10, abs=0
        )
    np.testing.assert_allclose(
        bgnbd_probability_alive(*params, x, t_x, T),
        oracle.conditional_probability_alive(x, t_x, T),
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    "row",
    [(2, 30.43, 38.86), (5000, 1.0, 500.0), (5000, 500.0, 500.0), (1, 1e-3, 500.0), (300, 0, 1)],
)
@pytest.mark.parametrize("params", [CDNOW_MLE, (1e3, 1e-3, 1e-3, 1e3), (1e-3, 1e3, 1e3, 1e-3)])
def test_p_alive_is_the_alive_share_of_the_likelihood(params, row):
    got = float(bgnbd_probability_alive(*params, *row))
    expected = _p_alive_direct(*params, *row)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-300)


# --- regions where scipy's hyp2f1 is unreliable (found in review, fixed by the quadrature path) --


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "case",
    [
        (437.4, 1.0, 4.4, 2.0, 2.4, 100, 30.0, 38.86),  # a - r = 1 exactly, heavy buyer
        (574.7, 0.5, 4.4, 1.5, 2.4, 1000, 30.0, 38.86),  # a - r = 1 exactly
        (391.6, 1.588, 103.4, 925.6, 0.4405, 2, 100.0, 138.1),  # large a
        (3179.0, 0.1039, 0.1097, 0.1732, 182.9, 3, 0.2, 0.3404),  # b large, z ~ 0.9999
        (500.0, 0.1, 0.1, 0.1, 1.0, 100, 20.0, 39.0),
    ],
)
def test_conditional_expectation_where_scipy_hyp2f1_breaks(case):
    got = float(bgnbd_conditional_expected_purchases(*case))
    assert got == pytest.approx(_conditional_expectation_quad(*case), rel=1e-8, abs=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    ("z", "r", "alpha", "a", "b", "x", "t_x", "T"),
    [
        (1 / 1.11, 1.0, 0.01, 10.0, 100.0, 5, 0.05, 0.1),  # t = 1: 0.9% too high
        (1 / 1.11, 2.0, 0.01, 10.0, 100.0, 5, 0.05, 0.1),  # t = 1: 4.7% too low
        (0.901, 2.0, 1.0, 5.0, 100.0, 5, 5.0, 9.0),
    ],
)
def test_conditional_expectation_silently_wrong_near_z_09(z, r, alpha, a, b, x, t_x, T):
    t = z * (alpha + T) / (1 - z)  # z = t / (alpha + T + t), the argument of 2F1
    case = (t, r, alpha, a, b, x, t_x, T)
    got = float(bgnbd_conditional_expected_purchases(*case))
    assert got == pytest.approx(_conditional_expectation_quad(*case), rel=1e-8, abs=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (0.4, 0.6), (0.2, 0.8)])
def test_expectations_at_a_plus_b_equal_one(a, b):
    r, alpha, t = 0.24, 4.4, 39.0
    # The c -> 0 limit in closed form: R = r z (1-z)^(a-1) 2F1(1-r, a; 2; z), z = t/(alpha+t).
    z = t / (alpha + t)
    closed = r * z * (1 - z) ** (a - 1) * special.hyp2f1(1 - r, a, 2, z)
    assert closed == pytest.approx(_residual_mean_quad(t, r, alpha, a, b, 0, 0.0), rel=1e-10, abs=0)
    assert float(bgnbd_expected_purchases(t, r, alpha, a, b)) == pytest.approx(
        closed, rel=1e-9, abs=0
    )
    got = float(bgnbd_conditional_expected_purchases(t, r, alpha, a, b, 0, 0.0, 20.0))
    assert got == pytest.approx(_residual_mean_quad(t, r, alpha, a, b, 0, 20.0), rel=1e-9, abs=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("a", [1.0, 1.0 + 1e-8, 1.0 - 1e-6])
def test_conditional_expectation_at_a_equal_one(a):
    case = (1.0, 0.2426, 4.4135, a, 8.0, 0, 0.0, 38.86)
    got = float(bgnbd_conditional_expected_purchases(*case))
    assert got == pytest.approx(_conditional_expectation_quad(*case), rel=1e-9, abs=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_conditional_expectation_tiny_horizon_relative_accuracy():
    case = (1e-8, *CDNOW_MLE, 2, 30.43, 38.86)
    got = float(bgnbd_conditional_expected_purchases(*case))
    assert got == pytest.approx(_conditional_expectation_quad(*case), rel=1e-9, abs=0)


# ------------------------------------------------------------------------------------------
# 3. P(X(t) = n) (FHL eq. 8)
# ------------------------------------------------------------------------------------------


def _pmf_by_lambda_integration(n, t, r, alpha, a, b):
    """Eq. 8 with the Gamma(r, alpha) mixing over lambda done numerically.

    Given lambda and p (FHL eq. 3 integrated over p ~ Beta(a, b) in closed form):
    P(n) = B(a,b+n)/B(a,b) Poisson(n; lambda t) + [n>0] B(a+1,b+n-1)/B(a,b) P(Poisson >= n).
    quad's algebraic weight absorbs the lambda^(r-1) singularity at 0.
    """
    ln_b = special.betaln(a, b)
    c1 = np.exp(special.betaln(a, b + n) - ln_b)
    c2 = np.exp(special.betaln(a + 1, b + n - 1) - ln_b) if n > 0 else 0.0

    def f(lam):
        inner = c1 * stats.poisson.pmf(n, lam * t)
        if n > 0:
            inner += c2 * stats.poisson.sf(n - 1, lam * t)
        return np.exp(r * np.log(alpha) - alpha * lam - special.gammaln(r)) * inner

    top = stats.gamma.isf(1e-18, r, scale=1 / alpha)
    body = integrate.quad(f, 0, top, weight="alg", wvar=(r - 1, 0), epsabs=0, epsrel=1e-11)[0]
    tail = integrate.quad(lambda lam: f(lam) * lam ** (r - 1), top, np.inf, epsabs=0)[0]
    return body + tail


@pytest.mark.parametrize("params", [CDNOW_MLE, (0.5, 10.0, 0.3, 1.5), (2.0, 50.0, 2.5, 8.0)])
@pytest.mark.parametrize("t", [1.0, 39.0, 104.0])
def test_pmf_matches_lambda_integration(params, t):
    for n in (0, 1, 2, 5, 12):
        got = float(bgnbd_probability_of_purchases(n, t, *params))
        assert got == pytest.approx(_pmf_by_lambda_integration(n, t, *params), rel=1e-8, abs=0)


@pytest.mark.parametrize(
    "params", [CDNOW_MLE, (0.5, 10.0, 0.3, 1.5), (2.0, 50.0, 2.5, 8.0), (0.1, 1.0, 1.5, 0.3)]
)
@pytest.mark.parametrize("t", [1.0, 39.0, 104.0])
def test_pmf_sums_to_one_and_its_mean_is_eq9(params, t):
    n = np.arange(0, 200_000)
    pmf = bgnbd_probability_of_purchases(n, t, *params)
    assert np.all(pmf >= 0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert (n * pmf).sum() == pytest.approx(
        float(bgnbd_expected_purchases(t, *params)), rel=1e-11, abs=0
    )


def test_pmf_zero_is_the_nbd_zero_term():
    # Nobody drops out before the first repeat purchase: P(X(t)=0) = (alpha/(alpha+t))^r.
    for params in (CDNOW_MLE, (2.0, 50.0, 2.5, 8.0), (1e-3, 1e3, 1e3, 1e-3)):
        for t in (1.0, 39.0, 500.0):
            expected = (params[1] / (params[1] + t)) ** params[0]
            got = float(bgnbd_probability_of_purchases(0, t, *params))
            assert got == pytest.approx(expected, rel=1e-13, abs=0)
    published = float(bgnbd_probability_of_purchases(0, 39, 0.243, 4.414, 0.793, 2.426))
    assert published == pytest.approx(0.5738, abs=5e-5)


@pytest.mark.parametrize("params", [CDNOW_MLE, (0.5, 10.0, 0.3, 1.5), (0.05, 0.5, 4.0, 40.0)])
def test_pmf_agrees_with_lifetimes_where_lifetimes_is_accurate(params):
    # lifetimes computes 1 - sum_{j<n} NB(j), which cancels for large n; compare small n only.
    oracle = _lifetimes_bg(params)
    for t in (1.0, 39.0, 104.0):
        for n in range(6):
            assert float(bgnbd_probability_of_purchases(n, t, *params)) == pytest.approx(
                float(oracle.probability_of_n_purchases_up_to_time(t, n)), rel=1e-9, abs=0
            )


def test_pmf_tail_keeps_relative_accuracy():
    # Far in the tail the second summand is B(a+1,b+n-1)/B(a,b) P(NB >= n): compare with the
    # incomplete beta function directly (P(NB(r, p) >= n) = I_{1-p}(n, r)) plus the first term.
    r, alpha, a, b = 2.0, 50.0, 2.5, 8.0
    t, n = 1.0, 40
    p = alpha / (alpha + t)
    first = np.exp(
        special.betaln(a, b + n)
        - special.betaln(a, b)
        + stats.nbinom.logpmf(n, r, p)  # Gamma(r+n)/(Gamma(r) n!) p^r (1-p)^n
    )
    second = np.exp(special.betaln(a + 1, b + n - 1) - special.betaln(a, b)) * special.betainc(
        n, r, 1 - p
    )
    got = float(bgnbd_probability_of_purchases(n, t, r, alpha, a, b))
    assert got < 1e-60
    assert got == pytest.approx(first + second, rel=1e-10, abs=0)


# ------------------------------------------------------------------------------------------
# 4. No NaN/inf in the likelihood and its gradient over an extreme grid
# ------------------------------------------------------------------------------------------


def test_log_likelihood_gradient_and_p_alive_finite_on_extreme_grid():
    values = np.logspace(-3, 3, 4)
    xs = np.array([0, 1, 2, 50, 1000, 5000], dtype=float)
    big_t = np.array([1e-3, 1.0, 39.0, 500.0])
    x, T, share = (g.ravel() for g in np.meshgrid(xs, big_t, [0.0, 1e-3, 0.5, 1.0]))
    t_x = np.where(x > 0, share * T, 0.0)
    w = np.ones(len(x))
    for theta in np.array(np.meshgrid(values, values, values, values)).reshape(4, -1).T:
        with np.errstate(under="ignore"):
            ll = bgnbd_log_likelihood(*theta, x, t_x, T)
            _, grad = bgnbd_negll_and_gradient(theta, x, t_x, T, w)
            p_alive = bgnbd_probability_alive(*theta, x, t_x, T)
        assert np.all(np.isfinite(ll)) and np.all(np.isfinite(grad)), theta
        assert np.all((p_alive >= 0) & (p_alive <= 1)), theta


# ------------------------------------------------------------------------------------------
# 5. Fitting core: standard errors, identification, weights
# ------------------------------------------------------------------------------------------


def _natural_scale_hessian_from_values(loglik, theta, h=1e-4):
    """Hessian of a scalar function by central differences of values, relative steps."""
    k = len(theta)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            di, dj = np.zeros(k), np.zeros(k)
            di[i], dj[j] = h * theta[i], h * theta[j]
            hess[i, j] = (
                loglik(theta + di + dj)
                - loglik(theta + di - dj)
                - loglik(theta - di + dj)
                + loglik(theta - di - dj)
            ) / (4 * di[i] * dj[j])
    return hess


def test_bgnbd_standard_errors_match_independent_hessian(bg_cdnow, cdnow_summary):
    x = cdnow_summary["frequency"].to_numpy(float)
    t_x = cdnow_summary["recency"].to_numpy(float)
    T = cdnow_summary["T"].to_numpy(float)
    theta = bg_cdnow.params_.to_numpy()

    def loglik(th):
        return float(bgnbd_log_likelihood(*th, x, t_x, T).sum())

    # Richardson extrapolation of value differences: at h = 1e-4 alone, rounding in the
    # log-likelihood (about 1e4) already moves the small covariance of r and b in the 4th digit.
    h = 1e-3
    hessian = (
        4 * _natural_scale_hessian_from_values(loglik, theta, h / 2)
        - _natural_scale_hessian_from_values(loglik, theta, h)
    ) / 3
    cov = np.linalg.inv(-hessian)
    np.testing.assert_allclose(bg_cdnow.covariance_.to_numpy(), cov, rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(
        bg_cdnow.standard_errors_.to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-5
    )
    # Published: r 0.0126, alpha 0.378, a 0.186, b 0.705.
    np.testing.assert_allclose(
        np.sqrt(np.diag(cov)), [0.0126, 0.378, 0.186, 0.705], rtol=5e-3, atol=0
    )


def test_bgnbd_mle_is_a_stationary_maximum(bg_cdnow, cdnow_summary):
    x = cdnow_summary["frequency"].to_numpy(float)
    t_x = cdnow_summary["recency"].to_numpy(float)
    T = cdnow_summary["T"].to_numpy(float)
    theta = bg_cdnow.params_.to_numpy()

    def loglik(th):
        return float(bgnbd_log_likelihood(*th, x, t_x, T).sum())

    grad = _log_param_fd_gradient(loglik, theta, h=1e-4)
    assert np.max(np.abs(grad)) < 1e-5
    best = loglik(theta)
    assert best == pytest.approx(bg_cdnow.log_likelihood_, rel=1e-13, abs=0)
    assert best >= loglik(np.array([0.2426, 4.4137, 0.7930, 2.4262]))  # published estimates
    for k in range(4):
        for sign in (-1, 1):
            moved = theta.copy()
            moved[k] *= 1 + sign * 1e-3
            assert loglik(moved) < best


def test_gamma_gamma_standard_errors_match_independent_hessian(gg_cdnow, cdnow_published):
    repeat = cdnow_published[cdnow_published["x"] > 0]
    x, z = repeat["x"].to_numpy(float), repeat["zbar"].to_numpy(float)
    theta = gg_cdnow.params_.to_numpy()

    def loglik(th):
        return float(gamma_gamma_log_likelihood(*th, x, z).sum())

    cov = np.linalg.inv(-_natural_scale_hessian_from_values(loglik, theta, h=1e-4))
    np.testing.assert_allclose(gg_cdnow.standard_errors_.to_numpy(), np.sqrt(np.diag(cov)), 1e-4)
    assert loglik(theta) == pytest.approx(-4055.92, abs=5e-3)


@pytest.mark.parametrize(
    ("frequency", "recency", "T"),
    [
        ([2.0], [30.43], [38.86]),  # a single customer
        ([0.0], [0.0], [38.86]),
        ([2.0, 0.0], [30.43, 0.0], [38.86, 38.86]),
        ([1.0, 3.0, 5.0, 2.0], [10.0, 20.0, 30.0, 39.0], [10.0, 20.0, 30.0, 39.0]),  # t_x == T
    ],
)
def test_unidentified_bgnbd_fits_are_reported(frequency, recency, T):
    with pytest.warns(ConvergenceWarning):
        model = cp.BetaGeoModel(time_unit="W").fit(frequency=frequency, recency=recency, T=T)
    assert model.converged_ is False
    assert model.fit_result_.notes


def test_unidentified_gamma_gamma_fit_is_reported():
    with pytest.warns(ConvergenceWarning):
        model = cp.GammaGammaModel().fit(frequency=[2.0], monetary_value=[20.0])
    assert model.converged_ is False


def test_duplicated_rows_equal_integer_weights(cdnow_published):
    rng = np.random.default_rng(7)
    k = rng.integers(1, 4, len(cdnow_published))
    dup = cdnow_published.loc[cdnow_published.index.repeat(k)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        long = cp.BetaGeoModel(time_unit="W").fit(
            frequency=dup["x"], recency=dup["t_x"], T=dup["T"]
        )
        weighted = cp.BetaGeoModel(time_unit="W").fit(
            frequency=cdnow_published["x"],
            recency=cdnow_published["t_x"],
            T=cdnow_published["T"],
            weights=k.astype(float),
        )
        halved = cp.BetaGeoModel(time_unit="W").fit(
            frequency=cdnow_published["x"],
            recency=cdnow_published["t_x"],
            T=cdnow_published["T"],
            weights=0.5 * k,
        )
    np.testing.assert_allclose(long.params_, weighted.params_, rtol=1e-12)
    np.testing.assert_allclose(long.standard_errors_, weighted.standard_errors_, rtol=1e-9)
    assert long.log_likelihood_ == pytest.approx(weighted.log_likelihood_, rel=1e-13, abs=0)
    assert long.n_obs_ == weighted.n_obs_ == k.sum()
    # Weights are frequency weights: scaling them keeps the MLE, scales the log-likelihood and
    # the information.
    np.testing.assert_allclose(halved.params_, weighted.params_, rtol=1e-10)
    assert halved.log_likelihood_ == pytest.approx(0.5 * weighted.log_likelihood_, rel=1e-12, abs=0)
    np.testing.assert_allclose(
        halved.standard_errors_, np.sqrt(2) * weighted.standard_errors_, rtol=1e-6
    )

    repeat = cdnow_published["x"] > 0
    kr = k[repeat.to_numpy()]
    rows = cdnow_published[repeat]
    long_gg = cp.GammaGammaModel().fit(
        frequency=rows["x"].repeat(kr), monetary_value=rows["zbar"].repeat(kr)
    )
    weighted_gg = cp.GammaGammaModel().fit(
        frequency=rows["x"], monetary_value=rows["zbar"], weights=kr.astype(float)
    )
    np.testing.assert_allclose(long_gg.params_, weighted_gg.params_, rtol=1e-12)
    assert long_gg.log_likelihood_ == pytest.approx(weighted_gg.log_likelihood_, rel=1e-13, abs=0)


def _simulate_bgnbd(rng, n, r, alpha, a, b, T):
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        clock = 0.0
        while True:
            clock += rng.exponential(1 / lam[i])
            if clock > T[i]:
                break
            x[i] += 1
            t_x[i] = clock
            if rng.random() < p[i]:
                break
    return x, t_x


def test_fit_recovers_simulated_parameters_within_standard_errors():
    rng = np.random.default_rng(2005)
    truth = np.array([0.25, 4.0, 0.8, 2.5])
    T = rng.uniform(27, 39, 6000)
    x, t_x = _simulate_bgnbd(rng, len(T), *truth, T)
    model = cp.BetaGeoModel(time_unit="W").fit(frequency=x, recency=t_x, T=T)
    assert model.converged_ is True
    z = (model.params_.to_numpy() - truth) / model.standard_errors_.to_numpy()
    assert np.all(np.abs(z) < 3.5), z


# ------------------------------------------------------------------------------------------
# 6. Gamma-Gamma by numerical integration over the customer's spend rate nu
# ------------------------------------------------------------------------------------------


def _gg_density_by_integration(p, q, gamma, x, zbar):
    """f(zbar) = int Gamma(zbar; shape px, rate x nu) Gamma(nu; shape q, rate gamma) d nu."""

    def log_integrand(nu):
        return stats.gamma.logpdf(zbar, p * x, scale=1 / (x * nu)) + stats.gamma.logpdf(
            nu, q, scale=1 / gamma
        )

    # Posterior nu | zbar is Gamma(px + q, gamma + x zbar): integrate around its bulk.
    shape, rate = p * x + q, gamma + x * zbar
    lo, hi = stats.gamma.ppf([1e-15, 1 - 1e-15], shape, scale=1 / rate)
    peak = log_integrand((shape - 1) / rate if shape > 1 else lo)
    value = integrate.quad(
        lambda nu: np.exp(log_integrand(nu) - peak), lo, hi, epsabs=0, epsrel=1e-12, limit=200
    )[0]
    return np.log(value) + peak, (shape, rate)


@pytest.mark.parametrize(
    ("x", "zbar"), [(1, 11.77), (2, 22.35), (7, 73.74), (20, 5.0), (200, 35.0), (1, 1e4)]
)
def test_gamma_gamma_density_and_posterior_mean_by_integration(x, zbar):
    p, q, gamma = 6.25, 3.74, 15.44
    log_f, (shape, rate) = _gg_density_by_integration(p, q, gamma, x, zbar)
    assert float(gamma_gamma_log_likelihood(p, q, gamma, x, zbar)) == pytest.approx(
        log_f, rel=1e-10, abs=1e-10
    )
    # E[M | x, zbar] = E[p / nu | zbar], with nu | zbar ~ Gamma(px + q, gamma + x zbar).
    posterior_mean = integrate.quad(
        lambda nu: p / nu * stats.gamma.pdf(nu, shape, scale=1 / rate), 0, np.inf, epsrel=1e-12
    )[0]
    got = float(gamma_gamma_expected_average_value(p, q, gamma, x, zbar))
    assert got == pytest.approx(posterior_mean, rel=1e-9, abs=0)


def test_gamma_gamma_published_expected_spend(gg_cdnow):
    p, q, gamma = gg_cdnow.params_
    expected = {(2, 22.35): 24.66, (1, 11.77): 18.91, (7, 73.74): 71.46}
    for (x, zbar), value in expected.items():
        shape, rate = p * x + q, gamma + x * zbar
        by_integration = integrate.quad(
            lambda nu, shape=shape, rate=rate: p / nu * stats.gamma.pdf(nu, shape, scale=1 / rate),
            0,
            np.inf,
        )[0]
        assert by_integration == pytest.approx(value, abs=5e-3)
        assert float(gamma_gamma_expected_average_value(p, q, gamma, x, zbar)) == pytest.approx(
            by_integration, rel=1e-9
        )
    assert float(gamma_gamma_expected_average_value(p, q, gamma, 0, np.nan)) == pytest.approx(
        35.17, abs=5e-3
    )


# ------------------------------------------------------------------------------------------
# Optional: high-precision check of the Euler transformation against FHL eq. 10 as printed
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        (39.0, *CDNOW_MLE, 2, 30.43, 38.86),
        (5000.0, *CDNOW_MLE, 5000, 500.0, 500.0),
        (500.0, 0.2426, 4.4135, 0.3, 0.2, 1000, 499.0, 500.0),
        (5000.0, 0.2426, 4.4135, 3.0, 8.0, 30, 10.0, 39.0),
        (104.0, 0.2426, 4.4135, 0.99, 0.2, 5000, 100.0, 500.0),
    ],
)
def test_euler_transformed_form_equals_eq10_in_high_precision(case):
    import mpmath as mp  # in the dev extra; a missing oracle must fail, not skip

    t, r, alpha, a, b, x, t_x, T = case
    with mp.workdps(60):
        t, r, alpha, a, b, x, t_x, T = map(mp.mpf, (t, r, alpha, a, b, x, t_x, T))
        z = t / (alpha + T + t)
        residual = (a + b + x - 1) / (a - 1)
        residual *= 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * mp.hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0
        expected = float(residual / (1 + odds))
    assert float(bgnbd_conditional_expected_purchases(*case)) == pytest.approx(
        expected, rel=1e-9, abs=0
    )


def test_bgnbd_probability_alive_at_against_its_definition(bg_cdnow, cdnow_summary):
    """P(alive at T + t) = P(alive at T) * E_p[(1 + p t/(alpha+T))^-(r+x)], p ~ Beta(a, b+x)."""
    r, alpha, a, b = bg_cdnow.params_.to_numpy()
    rows = cdnow_summary.iloc[[0, 1, 2, 10, 100, 500]]
    for t in (0.0, 5.0, 52.0, 500.0):
        got = bg_cdnow.probability_alive_at(t, rows).to_numpy()
        for value, (_, row) in zip(got, rows.iterrows(), strict=True):
            x, big_t = row["frequency"], row["T"]
            s = t / (alpha + big_t)
            log_b = special.betaln(a, b + x)

            def integrand(p, x=x, s=s, log_b=log_b):
                log_density = special.xlogy(a - 1, p) + special.xlog1py(b + x - 1, -p) - log_b
                return np.exp(log_density) * (1 + p * s) ** -(r + x)

            survive = integrate.quad(integrand, 0, 1, epsabs=0, epsrel=1e-12)[0]
            alive = bg_cdnow.probability_alive(rows.loc[[row.name]]).iloc[0]
            assert value == pytest.approx(alive * survive, rel=1e-8)
    np.testing.assert_allclose(
        bg_cdnow.probability_alive_at(0.0, rows), bg_cdnow.probability_alive(rows), rtol=1e-12
    )
    # Later means less likely alive, never more.
    later = bg_cdnow.probability_alive_at(26.0, rows).to_numpy()
    assert np.all(later <= bg_cdnow.probability_alive_at(13.0, rows).to_numpy() + 1e-15)


def test_bgnbd_probability_alive_at_finite_on_the_grid():
    from clvpredict.beta_geo import bgnbd_probability_alive_at

    x = np.array([0.0, 1.0, 30.0, 5000.0])
    big_t = np.array([1e-3, 39.0, 500.0])
    xs, ts = (g.ravel() for g in np.meshgrid(x, big_t))
    for r, alpha, a, b in itertools.product((1e-3, 1.0, 1e3), repeat=4):
        for t in (0.1, 52.0, 1000.0):
            value = bgnbd_probability_alive_at(t, r, alpha, a, b, xs, 0.6 * ts * (xs > 0), ts)
            assert np.all(np.isfinite(value) & (value >= 0) & (value <= 1)), (r, alpha, a, b, t)
