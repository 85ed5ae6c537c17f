"""Profile-likelihood intervals (``summary(method="profile")``, :mod:`clvpredict._profile`).

(a) BG/NBD on CDNOW: at every reported bound, an independent constrained fit (Nelder-Mead, with
    the log-likelihood written out here from Fader, Hardie & Lee 2005, eq. 6, on the
    uncompressed rows) gives a likelihood-ratio statistic equal to the chi-square(1) quantile;
    and the intervals are close to the Wald ones where the likelihood is nearly quadratic.
(b) Gamma-Gamma on CDNOW's repeat buyers against brute force: a grid of constrained fits of an
    independent log-likelihood along each parameter must put every grid point inside the
    interval below the threshold and every point outside above it.
(c) Input validation, models without data, open bounds, determinism, units.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from clvpredict._profile import profile_likelihood_intervals, profile_likelihood_ratio
from scipy import optimize, special, stats

import clvpredict as cp
from clvpredict.exceptions import ClvDataError, ConvergenceError, NotFittedError

CHI2_95 = stats.chi2.ppf(0.95, df=1)


# ------------------------------------------------------------------------------------------
# Independent log-likelihoods (per customer), written from the papers, not from the package
# ------------------------------------------------------------------------------------------


def bgnbd_loglik(theta: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    """BG/NBD, FHL (2005) eq. 6, summed over customers."""
    r, alpha, a, b = theta
    no_more = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    ll = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
        + np.logaddexp(no_more, dropped)
    )
    return float(ll.sum())


def gamma_gamma_loglik(theta: np.ndarray, x: np.ndarray, zbar: np.ndarray) -> float:
    """Gamma-Gamma marginal density of the mean spend zbar of x repeat purchases, summed."""
    p, q, gamma = theta
    px = p * x
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + px * np.log(x)
        + (px - 1) * np.log(zbar)
        - (px + q) * np.log(gamma + x * zbar)
    )
    return float(ll.sum())


def constrained_max(loglik, columns, log_theta_hat: np.ndarray, j: int, log_value: float) -> float:
    """max LL over the other parameters with log theta_j = log_value (Nelder-Mead, log scale)."""
    free = [i for i in range(len(log_theta_hat)) if i != j]

    def negative(v: np.ndarray) -> float:
        phi = log_theta_hat.copy()
        phi[free] = v
        phi[j] = log_value
        return -loglik(np.exp(phi), *columns) / len(columns[0])

    res = optimize.minimize(
        negative,
        log_theta_hat[free],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 20_000, "maxfev": 20_000},
    )
    return -res.fun * len(columns[0])


# ------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow_summary()


@pytest.fixture(scope="module")
def bgnbd(cdnow) -> cp.BetaGeoModel:
    return cp.BetaGeoModel().fit(cdnow)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow) -> cp.GammaGammaModel:
    return cp.GammaGammaModel().fit(cdnow)


@pytest.fixture(scope="module")
def repeat_buyers(cdnow) -> list[np.ndarray]:
    repeat = cdnow[cdnow["frequency"] > 0]
    return [repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)]


# ------------------------------------------------------------------------------------------
# (a) BG/NBD on CDNOW
# ------------------------------------------------------------------------------------------


def test_bgnbd_statistic_at_each_bound_is_the_chi_square_quantile(bgnbd, cdnow):
    columns = [cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    log_hat = np.log(bgnbd.params_.to_numpy())
    # The independent likelihood agrees with the package's at the estimate.
    ll_max = bgnbd_loglik(bgnbd.params_.to_numpy(), *columns)
    assert ll_max == pytest.approx(bgnbd.log_likelihood_, abs=1e-6)
    table = bgnbd.summary(method="profile")
    for j, name in enumerate(bgnbd.params_.index):
        for column in ("lower_95", "upper_95"):
            ll = constrained_max(bgnbd_loglik, columns, log_hat, j, np.log(table.loc[name, column]))
            statistic = 2 * (ll_max - ll)
            assert statistic == pytest.approx(CHI2_95, abs=1e-4), (name, column, statistic)


def test_bgnbd_profile_is_close_to_wald_where_the_likelihood_is_nearly_quadratic(bgnbd):
    profile = bgnbd.summary(method="profile")
    wald = bgnbd.summary()
    log_half_width = np.log(wald["upper_95"] / wald["estimate"])
    gap = np.maximum(
        np.abs(np.log(profile["lower_95"] / wald["lower_95"])),
        np.abs(np.log(profile["upper_95"] / wald["upper_95"])),
    )
    relative = gap / log_half_width
    # r and alpha: a quadratic log-likelihood to within 1.5% of the half-width. The dropout
    # parameters a and b are more skewed (profile shifted up by about 10% of the half-width).
    assert (relative[["r", "alpha"]] < 0.015).all(), relative
    assert (relative[["a", "b"]] < 0.15).all(), relative
    # Both contain the estimate, and the columns are the same as Wald's.
    assert list(profile.columns) == list(wald.columns)
    assert (
        (profile["lower_95"] < profile["estimate"]) & (profile["estimate"] < profile["upper_95"])
    ).all()
    pd.testing.assert_series_equal(profile["std_error"], wald["std_error"])


def test_mbgnbd_profile_is_wider_than_wald_above_for_r_and_b(cdnow):
    # The skewed case behind the option: the Wald intervals of r and b are too narrow at
    # CDNOW size, and the profile ones reach further up.
    model = cp.ModifiedBetaGeoModel().fit(cdnow)
    profile = model.summary(method="profile")
    wald = model.summary()
    assert (profile.loc[["r", "b"], "upper_95"] > 1.02 * wald.loc[["r", "b"], "upper_95"]).all()


# ------------------------------------------------------------------------------------------
# (b) Gamma-Gamma against a brute-force grid of constrained fits
# ------------------------------------------------------------------------------------------


def test_gamma_gamma_profile_matches_a_grid_of_constrained_fits(gamma_gamma, repeat_buyers):
    log_hat = np.log(gamma_gamma.params_.to_numpy())
    ll_max = gamma_gamma_loglik(gamma_gamma.params_.to_numpy(), *repeat_buyers)
    assert ll_max == pytest.approx(gamma_gamma.log_likelihood_, abs=1e-6)
    bounds = profile_likelihood_intervals(gamma_gamma, alpha=0.05)
    for j, name in enumerate(gamma_gamma.params_.index):
        lo, hi = np.log(bounds.loc[name, "lower"]), np.log(bounds.loc[name, "upper"])
        width = hi - lo
        grid = np.linspace(lo - 0.25 * width, hi + 0.25 * width, 15)
        statistic = np.array(
            [
                2 * (ll_max - constrained_max(gamma_gamma_loglik, repeat_buyers, log_hat, j, v))
                for v in grid
            ]
        )
        inside = (grid > lo) & (grid < hi)
        assert inside.sum() >= 9 and (~inside).sum() >= 4
        # The defining property of the interval, point by point.
        assert (statistic[inside] < CHI2_95).all(), (name, statistic)
        assert (statistic[~inside] > CHI2_95).all(), (name, statistic)
        # And the crossings read off the grid (linear in the signed root) agree closely.
        root = np.sign(grid - log_hat[j]) * np.sqrt(np.maximum(statistic, 0))
        target = np.sqrt(CHI2_95)
        lo_grid = np.interp(-target, root, grid)
        hi_grid = np.interp(target, root, grid)
        assert lo_grid == pytest.approx(lo, abs=0.01 * width)
        assert hi_grid == pytest.approx(hi, abs=0.01 * width)


def test_gamma_gamma_intervals_follow_the_currency(cdnow, gamma_gamma):
    # Spend in a currency a million times smaller: gamma (money) scales, p and q do not.
    scaled = cdnow.assign(monetary_value=cdnow["monetary_value"] * 1e6)
    other = profile_likelihood_intervals(cp.GammaGammaModel().fit(scaled))
    base = profile_likelihood_intervals(gamma_gamma)
    factor = pd.Series([1.0, 1.0, 1e6], index=base.index)
    pd.testing.assert_frame_equal(other, base.mul(factor, axis=0), rtol=1e-6)


# ------------------------------------------------------------------------------------------
# (c) Validation and edge cases
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["Profile", "likelihood", "", None])
def test_summary_rejects_unknown_methods(bgnbd, method):
    with pytest.raises(ClvDataError, match="'wald', 'profile'"):
        bgnbd.summary(method=method)


@pytest.mark.parametrize("alpha", [0, 1, -0.05, 1.5, float("nan"), "0.05", True, None])
def test_profile_rejects_alpha_outside_zero_one(bgnbd, alpha):
    with pytest.raises(ClvDataError, match="alpha"):
        bgnbd.summary(alpha=alpha, method="profile")


@pytest.mark.parametrize("distance", [0.0, -1.0, float("inf"), float("nan")])
def test_profile_rejects_bad_search_widths(bgnbd, distance):
    with pytest.raises(ClvDataError, match="max_log_distance"):
        profile_likelihood_intervals(bgnbd, max_log_distance=distance)


def test_models_without_data_cannot_be_profiled(bgnbd, tmp_path):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        cp.BetaGeoModel().summary(method="profile")
    given = cp.BetaGeoModel.from_params(bgnbd.params_, time_unit="W")
    with pytest.raises(NotFittedError, match="from_params"):
        given.summary(method="profile")
    # Saving a fitted model does not carry the data along, so a loaded one has none.
    loaded = cp.load_model(bgnbd.save(tmp_path / "model.json"))
    with pytest.raises(NotFittedError, match="loaded from a file"):
        loaded.summary(method="profile")
    assert np.isfinite(loaded.summary()["upper_95"]).all()  # Wald still works


def test_open_sides_are_reported_as_zero_and_infinity(bgnbd):
    # Searching no further than a factor e^0.001 never reaches the threshold.
    table = profile_likelihood_intervals(bgnbd, max_log_distance=1e-3)
    assert (table["lower"] == 0.0).all()
    assert np.isinf(table["upper"]).all()


def test_profile_is_deterministic_and_level_named(gamma_gamma):
    first = gamma_gamma.summary(alpha=0.1, method="profile")
    second = gamma_gamma.summary(alpha=0.1, method="profile")
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert list(first.columns) == ["estimate", "std_error", "lower_90", "upper_90"]
    # A 99% interval contains the 90% one.
    wide = gamma_gamma.summary(alpha=0.01, method="profile")
    assert (wide["lower_99"] < first["lower_90"]).all()
    assert (wide["upper_99"] > first["upper_90"]).all()


def test_a_fit_away_from_the_maximum_is_refused(cdnow):
    model = cp.GammaGammaModel().fit(cdnow)
    off = model.fit_result_.params * np.array([1.2, 1.0, 1.0])
    model.fit_result_ = dataclasses.replace(model.fit_result_, params=off)
    with pytest.raises(ConvergenceError, match="not at the maximum"):
        profile_likelihood_intervals(model)


def test_likelihood_ratio_at_given_values(gamma_gamma):
    bounds = profile_likelihood_intervals(gamma_gamma, alpha=0.1)
    at_bounds = pd.concat(
        [
            profile_likelihood_ratio(gamma_gamma, bounds["lower"]),
            profile_likelihood_ratio(gamma_gamma, bounds["upper"]),
        ]
    )
    np.testing.assert_allclose(at_bounds, stats.chi2.ppf(0.9, df=1), atol=1e-6)
    at_estimate = profile_likelihood_ratio(gamma_gamma, gamma_gamma.params_)
    np.testing.assert_allclose(at_estimate, 0.0, atol=1e-8)
    with pytest.raises(ClvDataError, match="unknown"):
        profile_likelihood_ratio(gamma_gamma, {"r": 1.0})
    with pytest.raises(ClvDataError, match="> 0"):
        profile_likelihood_ratio(gamma_gamma, {"p": -1.0})
