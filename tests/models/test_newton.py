"""Analytic Hessians and the Newton path of the fitting core.

The Hessians are checked against central differences of the analytic gradients and of the
log-likelihood values (the latter from the per-row formula, independent of the grouped code),
and a Newton fit against the gradient-only path (L-BFGS-B and finite-difference polish) that
fitted every model before.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

import clvpredict as cp
from clvpredict import _fitting
from clvpredict._fitting import compress, maximise_likelihood
from clvpredict.models.beta_geo import (
    GroupedRFM,
    bgnbd_log_likelihood,
    bgnbd_negll_and_gradient,
    bgnbd_negll_and_gradient_grouped,
)
from clvpredict.models.gamma_gamma import (
    GroupedSpend,
    gamma_gamma_negll_and_gradient,
    gamma_gamma_negll_grouped,
)
from clvpredict.models.modified_beta_geo import (
    GroupedMBG,
    mbgnbd_log_likelihood,
    mbgnbd_negll_and_gradient,
    mbgnbd_negll_and_gradient_grouped,
)

#: Parameter sets on both sides of the CDNOW estimates, decades apart.
BGNBD_POINTS = [
    (0.243, 4.414, 0.793, 2.426),
    (2.0, 0.5, 3.0, 0.7),
    (0.05, 40.0, 0.2, 30.0),
]


@pytest.fixture(scope="module")
def cdnow_rows(cdnow_summary):
    x, t_x, big_t = (cdnow_summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    # Unequal weights, so that a mix-up of rows and weights cannot cancel out.
    weights = np.random.default_rng(7).integers(1, 4, len(x)).astype(float)
    return x, t_x, big_t, weights


def _central_jacobian(function, theta, rel_step):
    """Central differences of a vector function, one column per parameter."""
    columns = []
    for i in range(len(theta)):
        step = rel_step * theta[i]
        e = np.zeros(len(theta))
        e[i] = step
        columns.append((function(theta + e) - function(theta - e)) / (2 * step))
    return np.column_stack(columns)


def _richardson_hessian(negll, theta: np.ndarray) -> np.ndarray:
    """Second differences of ``negll`` at relative steps 1e-3 and 5e-4, Richardson-extrapolated
    (error of order step^4): a Hessian from function values alone."""

    def second_differences(step: float) -> np.ndarray:
        k = len(theta)
        out = np.empty((k, k))
        for i in range(k):
            for j in range(k):
                ei = np.zeros(k)
                ej = np.zeros(k)
                ei[i] = step * theta[i]
                ej[j] = step * theta[j]
                out[i, j] = (
                    negll(theta + ei + ej)
                    - negll(theta + ei - ej)
                    - negll(theta - ei + ej)
                    + negll(theta - ei - ej)
                ) / (4 * ei[i] * ej[j])
        return out

    return (4 * second_differences(5e-4) - second_differences(1e-3)) / 3


@pytest.mark.parametrize("theta", BGNBD_POINTS)
def test_bgnbd_grouped_value_and_gradient_equal_the_per_row_formula(cdnow_rows, theta):
    x, t_x, big_t, w = cdnow_rows
    theta = np.array(theta)
    f, g = bgnbd_negll_and_gradient_grouped(theta, GroupedRFM(x, t_x, big_t, w))
    f_flat, g_flat = bgnbd_negll_and_gradient(theta, x, t_x, big_t, w)
    assert f == pytest.approx(f_flat, rel=1e-13, abs=0)
    np.testing.assert_allclose(g, g_flat, rtol=1e-11, atol=0)


@pytest.mark.parametrize("theta", BGNBD_POINTS)
def test_bgnbd_hessian_equals_differences_of_the_gradient(cdnow_rows, theta):
    x, t_x, big_t, w = cdnow_rows
    rows = GroupedRFM(x, t_x, big_t, w)
    theta = np.array(theta)
    f, g, h = bgnbd_negll_and_gradient_grouped(theta, rows, hessian=True)
    assert (f, g.tolist()) == tuple(
        (v if i == 0 else v.tolist())
        for i, v in enumerate(bgnbd_negll_and_gradient_grouped(theta, rows))
    )
    numeric = _central_jacobian(
        lambda t: bgnbd_negll_and_gradient_grouped(t, rows)[1], theta, rel_step=1e-6
    )
    np.testing.assert_allclose(h, h.T, rtol=0, atol=0)
    # Differences of a smooth gradient at a relative step of 1e-6: about 1e-9 of the largest
    # entry (measured 2e-10).
    scale = np.max(np.abs(h))
    np.testing.assert_allclose(h, numeric, rtol=1e-6, atol=1e-8 * scale)


def test_bgnbd_hessian_equals_second_differences_of_the_log_likelihood(cdnow_rows):
    """Against the per-row eq. 6 values alone (no gradient code): second differences with
    Richardson extrapolation."""
    x, t_x, big_t, w = cdnow_rows
    theta = np.array(BGNBD_POINTS[0])
    _, _, h = bgnbd_negll_and_gradient_grouped(theta, GroupedRFM(x, t_x, big_t, w), hessian=True)

    def negll(t):
        return -float(w @ bgnbd_log_likelihood(*t, x, t_x, big_t))

    numeric = _richardson_hessian(negll, theta)
    np.testing.assert_allclose(h, numeric, rtol=2e-5, atol=1e-6 * np.max(np.abs(h)))


def test_bgnbd_newton_fit_reaches_the_gradient_path_optimum(cdnow_rows):
    """The Newton fit and the L-BFGS-B fit (the path every fit took before) agree to the
    optimiser's precision; Newton needs a handful of iterations."""
    x, t_x, big_t, w = cdnow_rows
    rows = GroupedRFM(x, t_x, big_t, w)
    model = cp.BetaGeoModel()
    starts = model._starting_values([x, t_x, big_t], w)
    names = model._param_names
    newton = maximise_likelihood(
        bgnbd_negll_and_gradient_grouped, [rows], w, starts, names, hessian=True
    )
    gradient_only = maximise_likelihood(bgnbd_negll_and_gradient_grouped, [rows], w, starts, names)
    assert newton.converged and gradient_only.converged
    assert newton.message.startswith("Newton")
    assert not gradient_only.message.startswith("Newton")
    assert newton.n_iterations <= 12 < gradient_only.n_iterations
    np.testing.assert_allclose(newton.params, gradient_only.params, rtol=1e-7)
    assert newton.log_likelihood == pytest.approx(gradient_only.log_likelihood, rel=1e-13, abs=0)
    assert newton.gradient_norm < 1e-9
    # Standard errors: analytic Hessian against differences of the gradient.
    np.testing.assert_allclose(
        np.sqrt(np.diag(newton.covariance)), np.sqrt(np.diag(gradient_only.covariance)), rtol=1e-5
    )


def test_fit_without_an_interior_maximum_is_reported_as_not_converged():
    """A likelihood without an interior maximum (the rate of an all-zero Poisson sample runs to
    0): whichever path ends the fit, it is reported as not converged."""

    def negll(theta, x, weights, hessian=False):
        (rate,) = theta
        f = float(weights @ (rate - x * np.log(rate)))
        g = np.array([float(weights @ (1 - x / rate))])
        h = np.array([[float(weights @ (x / rate**2))]])
        return (f, g, h) if hessian else (f, g)

    x = np.zeros(5)
    result = maximise_likelihood(negll, [x], np.ones(5), [np.array([1.0])], ["rate"], hessian=True)
    assert not result.converged
    assert result.params[0] < 1e-10
    assert any("not identified" in note or "edge" in note for note in result.notes)


def test_compress_returns_distinct_rows_unchanged():
    rng = np.random.default_rng(3)
    cols = [rng.integers(0, 5, 1000).astype(float), rng.random(1000), rng.random(1000)]
    w = rng.random(1000)
    unique, uw = compress(cols, w)
    for got, given in zip(unique, cols, strict=True):
        np.testing.assert_array_equal(got, given)
    np.testing.assert_array_equal(uw, w)


def test_compress_survives_hash_collisions(monkeypatch, cdnow_summary):
    """Every row hashing to the same value must still give the exact grouping."""
    cols = [cdnow_summary[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    expected_rows, expected_w = compress(cols)
    monkeypatch.setattr(_fitting, "_row_hash", lambda bits: np.zeros(len(bits[0]), dtype=np.uint64))
    rows, w = compress(cols)
    for got, want in zip(rows, expected_rows, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(w, expected_w)
    assert len(w) == len(cdnow_summary.drop_duplicates(["frequency", "recency", "T"]))


GAMMA_GAMMA_POINTS = [(6.25, 3.74, 15.45), (0.5, 10.0, 2.0), (20.0, 1.5, 100.0)]


@pytest.fixture(scope="module")
def cdnow_spend(cdnow_summary):
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    x = repeat["frequency"].to_numpy(float)
    zbar = repeat["monetary_value"].to_numpy(float)
    weights = np.random.default_rng(11).integers(1, 4, len(x)).astype(float)
    return x, zbar, weights


@pytest.mark.parametrize("theta", GAMMA_GAMMA_POINTS)
def test_gamma_gamma_grouped_derivatives(cdnow_spend, theta):
    """Value and gradient equal the per-row formula; the Hessian equals differences of the
    gradient."""
    x, zbar, w = cdnow_spend
    rows = GroupedSpend(x, zbar, w)
    theta = np.array(theta)
    f, g, h = gamma_gamma_negll_grouped(theta, rows, hessian=True)
    f_flat, g_flat = gamma_gamma_negll_and_gradient(theta, x, zbar, w)
    assert f == pytest.approx(f_flat, rel=1e-13, abs=0)
    np.testing.assert_allclose(g, g_flat, rtol=1e-11, atol=0)
    numeric = _central_jacobian(
        lambda t: gamma_gamma_negll_grouped(t, rows)[1], theta, rel_step=1e-6
    )
    np.testing.assert_allclose(h, h.T, rtol=0, atol=0)
    np.testing.assert_allclose(h, numeric, rtol=1e-6, atol=1e-8 * np.max(np.abs(h)))


def test_gamma_gamma_newton_fit_reaches_the_gradient_path_optimum(cdnow_spend):
    x, zbar, w = cdnow_spend
    rows = GroupedSpend(x, zbar, w)
    starts = cp.GammaGammaModel()._starting_values([x, zbar], w)
    names = ("p", "q", "gamma")
    newton = maximise_likelihood(gamma_gamma_negll_grouped, [rows], w, starts, names, hessian=True)
    gradient_only = maximise_likelihood(gamma_gamma_negll_and_gradient, [x, zbar], w, starts, names)
    assert newton.converged and gradient_only.converged
    assert newton.message.startswith("Newton")
    assert newton.n_iterations < gradient_only.n_iterations
    np.testing.assert_allclose(newton.params, gradient_only.params, rtol=1e-7)
    assert newton.log_likelihood == pytest.approx(gradient_only.log_likelihood, rel=1e-13, abs=0)
    np.testing.assert_allclose(
        np.sqrt(np.diag(newton.covariance)), np.sqrt(np.diag(gradient_only.covariance)), rtol=1e-5
    )


def test_bgnbd_cumulative_purchases_group_pairs_exactly(bg_cdnow, cdnow_summary):
    """Expected purchases per (frequency, T) pair computed once and spread back: the same
    numbers as computing every customer on their own."""
    arrays = {c: cdnow_summary[c].to_numpy(float) for c in ("frequency", "recency", "T")}
    theta = bg_cdnow._theta()
    grouped = bg_cdnow._cumulative_purchases([4.3, 8.7, 13.0], theta, arrays)
    one_by_one = np.vstack(
        [
            bg_cdnow._cumulative_purchases(
                [4.3, 8.7, 13.0], theta, {c: v[[i]] for c, v in arrays.items()}
            )
            for i in range(0, len(cdnow_summary), 97)
        ]
    )
    np.testing.assert_array_equal(grouped[::97], one_by_one)


#: The MBG/NBD's CDNOW estimates (Batislam et al. 2007's model fitted to CDNOW).
MBG_CDNOW = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
#: MBG/NBD parameter sets: the CDNOW estimates and points decades away on either side.
MBGNBD_POINTS = [
    (0.525, 6.183, 0.891, 1.614),
    (3.0, 0.05, 40.0, 0.2),
    (0.05, 40.0, 0.2, 30.0),
]


@pytest.fixture(scope="module")
def continuous_rows(cdnow_rows):
    """CDNOW with every time moved off the weekly grid (one-time buyers keep recency 0), so that
    no two one-time buyers share T."""
    x, t_x, big_t, w = cdnow_rows
    jitter = np.random.default_rng(5).uniform(0.0, 0.5, len(x))
    return x, np.where(x > 0, t_x + jitter, 0.0), big_t + jitter, w


@pytest.mark.parametrize("theta", MBGNBD_POINTS)
def test_mbgnbd_grouped_value_and_gradient_equal_the_per_row_formula(
    cdnow_rows, continuous_rows, theta
):
    theta = np.array(theta)
    for x, t_x, big_t, w in (cdnow_rows, continuous_rows):
        f, g = mbgnbd_negll_and_gradient_grouped(theta, GroupedMBG(x, t_x, big_t, w))
        f_flat, g_flat = mbgnbd_negll_and_gradient(theta, x, t_x, big_t, w)
        assert f == pytest.approx(f_flat, rel=1e-13, abs=0)
        np.testing.assert_allclose(g, g_flat, rtol=1e-11, atol=0)


@pytest.mark.parametrize("theta", MBGNBD_POINTS)
def test_mbgnbd_hessian_equals_differences_of_the_gradient(continuous_rows, theta):
    x, t_x, big_t, w = continuous_rows
    rows = GroupedMBG(x, t_x, big_t, w)
    theta = np.array(theta)
    f, g, h = mbgnbd_negll_and_gradient_grouped(theta, rows, hessian=True)
    f_only, g_only = mbgnbd_negll_and_gradient_grouped(theta, rows)
    assert f == f_only
    np.testing.assert_array_equal(g, g_only)
    np.testing.assert_array_equal(h, h.T)
    numeric = _central_jacobian(
        lambda t: mbgnbd_negll_and_gradient_grouped(t, rows)[1], theta, rel_step=1e-6
    )
    np.testing.assert_allclose(h, numeric, rtol=1e-6, atol=1e-8 * np.max(np.abs(h)))


def test_mbgnbd_hessian_equals_second_differences_of_the_log_likelihood(continuous_rows):
    """Against the per-row likelihood values alone (no gradient code): second differences with
    Richardson extrapolation."""
    x, t_x, big_t, w = continuous_rows
    theta = np.array(MBGNBD_POINTS[0])
    _, _, h = mbgnbd_negll_and_gradient_grouped(theta, GroupedMBG(x, t_x, big_t, w), hessian=True)

    def negll(t):
        return -float(w @ mbgnbd_log_likelihood(*t, x, t_x, big_t))

    numeric = _richardson_hessian(negll, theta)
    np.testing.assert_allclose(h, numeric, rtol=2e-5, atol=1e-6 * np.max(np.abs(h)))


def test_mbgnbd_grouped_rows_refuse_a_one_time_buyer_with_recency():
    with pytest.raises(ValueError, match="recency 0"):
        GroupedMBG(np.array([0.0, 2.0]), np.array([1.0, 3.0]), np.array([5.0, 5.0]), np.ones(2))


def test_mbgnbd_newton_fit_reaches_the_gradient_path_optimum(cdnow_rows):
    """Newton on the grouped rows and L-BFGS-B on the per-row formula (the path the MBG/NBD
    took before) agree to the optimiser's precision."""
    x, t_x, big_t, w = cdnow_rows
    model = cp.ModifiedBetaGeoModel()
    starts = model._starting_values([x, t_x, big_t], w)
    names = model._param_names
    rows = GroupedMBG(x, t_x, big_t, w)
    newton = maximise_likelihood(
        mbgnbd_negll_and_gradient_grouped, [rows], w, starts, names, hessian=True
    )
    gradient_only = maximise_likelihood(
        mbgnbd_negll_and_gradient, [x, t_x, big_t], w, starts, names
    )
    assert newton.converged and gradient_only.converged
    assert newton.message.startswith("Newton")
    assert not gradient_only.message.startswith("Newton")
    assert newton.n_evaluations < gradient_only.n_evaluations
    np.testing.assert_allclose(newton.params, gradient_only.params, rtol=1e-7)
    assert newton.log_likelihood == pytest.approx(gradient_only.log_likelihood, rel=1e-13, abs=0)
    assert newton.gradient_norm < 1e-9
    np.testing.assert_allclose(
        np.sqrt(np.diag(newton.covariance)), np.sqrt(np.diag(gradient_only.covariance)), rtol=1e-5
    )


def test_mbgnbd_fit_equals_a_direct_maximisation_of_the_likelihood(continuous_rows):
    """The model's fit against scipy's Nelder-Mead on the per-row log-likelihood alone (no
    gradient, no Hessian, no grouping), from another start."""
    x, t_x, big_t, w = continuous_rows
    model = cp.ModifiedBetaGeoModel().fit(frequency=x, recency=t_x, T=big_t, weights=w)
    assert model.converged_
    assert model.fit_result_.message.startswith("Newton")

    def negll(phi):
        return -float(w @ mbgnbd_log_likelihood(*np.exp(phi), x, t_x, big_t))

    options = {"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 40_000}
    direct = optimize.minimize(
        negll, np.log([1.0, 1.0, 1.0, 1.0]), method="Nelder-Mead", options=options
    )
    # A restart from where the simplex stopped (older scipy's simplex can run out of its budget
    # before the tolerances are met).
    for _ in range(3):
        if direct.success:
            break
        direct = optimize.minimize(negll, direct.x, method="Nelder-Mead", options=options)
    assert direct.success
    assert model.log_likelihood_ == pytest.approx(-direct.fun, rel=1e-11, abs=0)
    # Not lower than the direct search's maximum, beyond rounding.
    assert model.log_likelihood_ >= -direct.fun - 1e-9 * abs(direct.fun)
    np.testing.assert_allclose(model.params_.to_numpy(), np.exp(direct.x), rtol=1e-5)


class _ScreenedMBG(cp.ModifiedBetaGeoModel):
    """The MBG/NBD with the restart screening at a test's scale (from 16,384 distinct rows)."""

    _screening_rows = 4096


class _UnscreenedMBG(cp.ModifiedBetaGeoModel):
    _screening_rows = 0


def test_screened_restarts_that_fall_back_are_not_run_on_all_rows():
    """On data with one maximum, both restarts return to it on the sample and are dropped: the
    same optimum as running them on all rows, for a fraction of the evaluations."""
    truth = cp.ModifiedBetaGeoModel.from_params(MBG_CDNOW, time_unit="W")
    rng = np.random.default_rng(29)
    data = truth.simulate(rng.uniform(20.0, 60.0, 20_000), random_state=rng)
    screened = _ScreenedMBG().fit(data)
    full = _UnscreenedMBG().fit(data)
    assert screened.converged_ and full.converged_
    result = screened.fit_result_
    assert result.starts_tried == 1 and full.fit_result_.starts_tried == 3
    assert result.n_screening_evaluations > 0
    assert full.fit_result_.n_screening_evaluations == 0
    assert result.n_evaluations < full.fit_result_.n_evaluations / 2
    # The restarts on all rows end at the same maximum, up to rounding.
    assert screened.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-14, abs=0)
    np.testing.assert_allclose(screened.params_, full.params_, rtol=1e-9)


def test_a_restart_that_finds_another_maximum_on_the_sample_is_run_on_all_rows():
    """Sample 202 of benchmarks/recovery.py (two maxima; the standard starts find the lower),
    eight times over with times moved by 1e-7 per copy, so that the 18,856 rows are distinct
    and the screening sample (every 4th row) holds each customer twice: its restart from b/4
    reaches the higher maximum there, and the fit on all rows follows it."""
    truth = cp.ModifiedBetaGeoModel.from_params(MBG_CDNOW, time_unit="W")
    rng = np.random.default_rng(np.random.SeedSequence([20261205, 1, 2357, 202]))
    one = truth.simulate(rng.uniform(27.0, 39.0, 2357), random_state=rng)
    x, t_x, big_t = (one[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    copies = np.repeat(np.arange(8.0), len(x)) * 1e-7
    x8 = np.tile(x, 8)
    t_x8 = np.where(x8 > 0, np.tile(t_x, 8) + copies, 0.0)
    big_t8 = np.tile(big_t, 8) + copies
    screened = _ScreenedMBG().fit(frequency=x8, recency=t_x8, T=big_t8)
    full = _UnscreenedMBG().fit(frequency=x8, recency=t_x8, T=big_t8)
    assert screened.converged_ and full.converged_
    assert screened.fit_result_.n_screening_evaluations > 0
    assert screened.fit_result_.starts_tried >= 2
    assert screened.params_["b"] < 1.0 and full.params_["b"] < 1.0
    assert screened.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-13, abs=0)
    np.testing.assert_allclose(screened.params_, full.params_, rtol=1e-8)
