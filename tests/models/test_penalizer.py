"""``penalizer_coef``: lifetimes' L2 penalty as a setting of the native models.

The native models penalise their parameters as reported (in the model's time unit); lifetimes
penalised the rate parameters on its rescaled time axis (time divided by the largest ``T``).
Fitting a native model on CDNOW measured on that axis must give lifetimes' penalised estimates
(lifetimes 0.11.3 is the oracle).
"""

from __future__ import annotations

import json

import lifetimes as oracle
import lifetimes.datasets
import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
import clvpredict.lifetimes as lt
from clvpredict._fitting import compress
from clvpredict.models._base import _penalised
from clvpredict.models.beta_geo import (
    GroupedRFM,
    bgnbd_log_likelihood,
    bgnbd_negll_and_gradient_grouped,
)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow_summary()


def _on_lifetimes_axis(summary: pd.DataFrame) -> tuple[dict[str, np.ndarray], float]:
    """The columns with time divided by the largest T (lifetimes' axis) and that factor."""
    scale = 1.0 / float(summary["T"].max())
    columns = {
        "frequency": summary["frequency"].to_numpy(dtype=float),
        "recency": summary["recency"].to_numpy(dtype=float) * scale,
        "T": summary["T"].to_numpy(dtype=float) * scale,
    }
    return columns, scale


@pytest.mark.parametrize("coef", [0.001, 0.1])
@pytest.mark.parametrize(
    ("model", "fitter", "time_params"),
    [
        (cp.BetaGeoModel, oracle.BetaGeoFitter, ("alpha",)),
        (cp.ModifiedBetaGeoModel, oracle.ModifiedBetaGeoFitter, ("alpha",)),
    ],
)
def test_bg_family_matches_lifetimes_penalised_estimates(cdnow, model, fitter, time_params, coef):
    columns, scale = _on_lifetimes_axis(cdnow)
    ours = model(penalizer_coef=coef).fit(**columns)
    assert ours.converged_
    params = ours.params_.copy()
    params[list(time_params)] /= scale
    theirs = fitter(penalizer_coef=coef).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_allclose(params, theirs.params_[params.index], rtol=1e-5)


@pytest.mark.parametrize("coef", [0.001, 0.1])
def test_pareto_nbd_matches_lifetimes_penalised_objective(cdnow, coef):
    """lifetimes divides the Pareto/NBD's summed negative log-likelihood by the mean weight (1
    here), not the sum: its coefficient is ours times the number of customers. Its optimiser
    stops about 1e-4 short; ours reaches a lower value of lifetimes' own objective."""
    columns, scale = _on_lifetimes_axis(cdnow)
    n = len(cdnow)
    ours = cp.ParetoNBDModel(penalizer_coef=coef / n).fit(**columns)
    assert ours.converged_
    theirs = oracle.ParetoNBDFitter(penalizer_coef=coef).fit(
        cdnow["frequency"], cdnow["recency"], cdnow["T"]
    )
    on_axis = theirs.params_[ours.params_.index].to_numpy() * np.array([1, scale, 1, scale])
    np.testing.assert_allclose(ours.params_, on_axis, rtol=5e-4)
    data = (columns["frequency"], columns["recency"], columns["T"], np.ones(n))
    objective = oracle.ParetoNBDFitter._negative_log_likelihood
    assert objective(ours.params_.to_numpy(), *data, coef) <= objective(on_axis, *data, coef)


def test_gamma_gamma_penalises_gamma_in_currency_units(cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    theirs = oracle.GammaGammaFitter(penalizer_coef=0.001).fit(
        repeat["frequency"], repeat["monetary_value"]
    )
    ours = cp.GammaGammaModel(penalizer_coef=0.001).fit(cdnow)
    assert ours.converged_
    np.testing.assert_allclose(ours.params_, theirs.params_.to_numpy(), rtol=1e-7)
    # The fit standardises spend internally: the penalty is still on gamma in dollars, so cents
    # give another estimate.
    cents = cdnow.assign(monetary_value=cdnow["monetary_value"] * 100)
    in_cents = cp.GammaGammaModel(penalizer_coef=0.001).fit(cents)
    assert in_cents.params_["p"] > 1.5 * ours.params_["p"]


def test_bgbb_matches_lifetimes_penalised_estimates():
    donations = cp.datasets.load_donations()
    ours = cp.BetaGeoBetaBinomModel(penalizer_coef=0.01).fit(donations, weights="weights")
    data = oracle.datasets.load_donations()
    theirs = oracle.BetaGeoBetaBinomFitter(penalizer_coef=0.01).fit(
        data["frequency"], data["recency"], data["periods"], weights=data["weights"]
    )
    np.testing.assert_allclose(ours.params_, theirs.params_[ours.params_.index], rtol=1e-5)


@pytest.mark.parametrize("coef", [0.001, 0.1])
def test_dropin_uses_the_native_setting_and_matches_lifetimes(cdnow, coef):
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    for ours, theirs in [
        (lt.BetaGeoFitter, oracle.BetaGeoFitter),
        (lt.ModifiedBetaGeoFitter, oracle.ModifiedBetaGeoFitter),
    ]:
        fitted = ours(penalizer_coef=coef).fit(*args)
        reference = theirs(penalizer_coef=coef).fit(*args)
        np.testing.assert_allclose(
            fitted.params_, reference.params_[fitted.params_.index], rtol=1e-5
        )


def test_penalty_gradient_and_hessian_are_those_of_the_objective(cdnow):
    columns, w = compress([cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")])
    rows = GroupedRFM(*columns, w)
    factors = np.array([1.0, 0.5, 1.0, 2.0])
    objective = _penalised(bgnbd_negll_and_gradient_grouped, 0.05, factors)
    theta = np.array([0.3, 3.0, 0.7, 2.0])
    value, gradient, hessian = objective(theta, rows, w, hessian=True)
    plain = bgnbd_negll_and_gradient_grouped(theta, rows, w)[0]
    assert value - plain == pytest.approx(0.05 * w.sum() * np.sum((factors * theta) ** 2))
    step = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = step * theta[i]
        up, down = objective(theta + e, rows, w), objective(theta - e, rows, w)
        np.testing.assert_allclose((up[0] - down[0]) / (2 * e[i]), gradient[i], rtol=1e-6)
        np.testing.assert_allclose((up[1] - down[1]) / (2 * e[i]), hessian[:, i], rtol=1e-5)
    assert _penalised(bgnbd_negll_and_gradient_grouped, 0.0, factors) is (
        bgnbd_negll_and_gradient_grouped
    )


def test_penalised_fit_reports_its_likelihood_and_keeps_its_setting(cdnow, tmp_path):
    plain = cp.BetaGeoModel().fit(cdnow)
    penalised = cp.BetaGeoModel(penalizer_coef=0.001).fit(cdnow)
    # The log-likelihood at the penalised estimates (not the penalised objective): lower than
    # at the maximum, and the sum of the customers' log-likelihoods there.
    assert round(plain.log_likelihood_, 4) == -9582.4256
    assert round(penalised.log_likelihood_, 4) == -9593.1724
    columns = [cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    at_estimates = bgnbd_log_likelihood(*penalised.params_.to_numpy(), *columns).sum()
    assert penalised.log_likelihood_ == pytest.approx(at_estimates, rel=1e-12)
    assert not np.allclose(penalised.params_, plain.params_, rtol=0.05)
    # 0 is plain maximum likelihood, bit for bit.
    pd.testing.assert_series_equal(
        cp.BetaGeoModel(penalizer_coef=0.0).fit(cdnow).params_, plain.params_, check_exact=True
    )
    path = penalised.save(tmp_path / "bg.json")
    assert cp.load_model(path).penalizer_coef == 0.001
    # An unpenalised fit's file has no such setting (older clvpredict refuses unknown
    # settings), and loads with the default.
    plain_file = json.loads(plain.save(tmp_path / "plain.json").read_text())
    assert set(plain_file["settings"]) == {"time_unit", "on_nonconvergence"}
    assert cp.load_model(tmp_path / "plain.json").penalizer_coef == 0.0
    with pytest.raises(cp.ClvDataError, match="penalised"):
        penalised.summary(method="profile")
    for bad in (-0.1, float("nan"), "a lot"):
        with pytest.raises(cp.ClvDataError, match="penalizer_coef"):
            cp.BetaGeoModel(penalizer_coef=bad).fit(cdnow)


def test_the_coefficient_depends_on_the_time_unit(cdnow):
    """Days make alpha 7 times as large: without a penalty the fits are one model, with one
    the same coefficient pulls the daily alpha harder."""
    days = cdnow.copy()
    days[["recency", "T"]] *= 7.0
    days.attrs["time_unit"] = "D"
    weekly = cp.BetaGeoModel().fit(cdnow)
    daily = cp.BetaGeoModel().fit(days)
    assert daily.params_["alpha"] / weekly.params_["alpha"] == pytest.approx(7.0, rel=1e-6)
    weekly_pen = cp.BetaGeoModel(penalizer_coef=0.001).fit(cdnow)
    daily_pen = cp.BetaGeoModel(penalizer_coef=0.001).fit(days)
    assert daily_pen.params_["alpha"] / weekly_pen.params_["alpha"] < 6.0
