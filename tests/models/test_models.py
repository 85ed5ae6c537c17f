"""Estimator behaviour shared by the models: fitting core, learned state, summaries, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError, ConvergenceError, ConvergenceWarning, NotFittedError
from clvpredict._fitting import compress
from clvpredict._registry import all_models


def test_fit_returns_self_and_sets_learned_state(cdnow_summary):
    model = cp.BetaGeoModel()
    assert model.fit(cdnow_summary) is model
    for attr in ("params_", "standard_errors_", "covariance_", "log_likelihood_", "aic_", "bic_"):
        assert hasattr(model, attr)
    assert list(model.params_.index) == ["r", "alpha", "a", "b"]
    assert isinstance(model.converged_, bool)
    # __init__ only stores settings.
    assert vars(cp.BetaGeoModel(time_unit="W")) == {
        "time_unit": "W",
        "purchase_covariates": (),
        "dropout_covariates": (),
        "shared_covariates": (),
        "categorical_covariates": (),
        "reference_levels": None,
        "covariate_penalty": 0.0,
        "on_nonconvergence": "warn",
        "penalizer_coef": 0.0,
    }


def test_information_criteria_by_hand(bg_cdnow):
    k, n, ll = 4, 2357, bg_cdnow.log_likelihood_
    assert bg_cdnow.aic_ == pytest.approx(2 * k - 2 * ll)
    assert bg_cdnow.bic_ == pytest.approx(k * np.log(n) - 2 * ll)


def test_covariance_is_symmetric_and_matches_standard_errors(bg_cdnow):
    cov = bg_cdnow.covariance_.to_numpy()
    np.testing.assert_allclose(cov, cov.T)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), bg_cdnow.standard_errors_.to_numpy())


def test_compression_is_exact(cdnow_summary):
    cols = [cdnow_summary[c].to_numpy() for c in ("frequency", "recency", "T")]
    unique, weights = compress(cols)
    assert weights.sum() == len(cdnow_summary)
    assert len(unique[0]) == len(cdnow_summary.drop_duplicates(["frequency", "recency", "T"]))
    # Fitting the distinct rows with their counts as weights equals fitting every customer.
    weighted = cp.BetaGeoModel(time_unit="W").fit(
        frequency=unique[0], recency=unique[1], T=unique[2], weights=weights
    )
    full = cp.BetaGeoModel(time_unit="W").fit(cdnow_summary)
    np.testing.assert_allclose(weighted.params_, full.params_, rtol=1e-9)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-12)
    assert weighted.n_obs_ == full.n_obs_ == 2357


def test_log_likelihood_is_sum_of_individual_terms(bg_cdnow, cdnow_summary):
    from clvpredict.beta_geo import bgnbd_log_likelihood

    ll = bgnbd_log_likelihood(
        *bg_cdnow.params_,
        cdnow_summary["frequency"].to_numpy(float),
        cdnow_summary["recency"].to_numpy(),
        cdnow_summary["T"].to_numpy(),
    )
    assert ll.sum() == pytest.approx(bg_cdnow.log_likelihood_, rel=1e-12)


def test_arrays_as_keywords_equal_dataframe(cdnow_summary, bg_cdnow):
    model = cp.BetaGeoModel(time_unit="W").fit(
        frequency=cdnow_summary["frequency"].to_numpy(),
        recency=cdnow_summary["recency"].to_list(),
        T=cdnow_summary["T"].to_numpy(),
    )
    np.testing.assert_allclose(model.params_, bg_cdnow.params_, rtol=1e-9)
    # Plain arrays give a RangeIndex; Series keep theirs.
    got = model.probability_alive(frequency=[0, 2], recency=[0, 30.43], T=[38.86, 38.86])
    assert list(got.index) == [0, 1]


def test_predictions_are_indexed_like_the_input(bg_cdnow, gg_cdnow, cdnow_summary):
    subset = cdnow_summary.iloc[[5, 1, 99]]
    for series in (
        bg_cdnow.expected_purchases(10, subset),
        bg_cdnow.probability_alive(subset),
        gg_cdnow.expected_average_value(subset),
    ):
        assert series.index.equals(subset.index)


def test_summary_table_and_intervals(bg_cdnow):
    table = bg_cdnow.summary()
    assert list(table.columns) == ["estimate", "std_error", "lower_95", "upper_95"]
    est, se = table["estimate"], table["std_error"]
    # Log-scale Wald interval: estimate * exp(-+1.959964 * se / estimate).
    np.testing.assert_allclose(table["lower_95"], est * np.exp(-1.959963985 * se / est))
    np.testing.assert_allclose(table["upper_95"], est * np.exp(1.959963985 * se / est))
    assert (table["lower_95"] > 0).all()
    assert list(bg_cdnow.summary(alpha=0.1).columns)[2:] == ["lower_90", "upper_90"]


def test_repr_and_html_show_the_fit(bg_cdnow):
    text = repr(bg_cdnow)
    for piece in ("BG/NBD", "-9582.4256", "AIC", "BIC", "converged       yes", "weeks", "alpha"):
        assert piece in text
    html = bg_cdnow._repr_html_()
    assert (
        html.startswith("<div>")
        and "<table" in html
        and "std err" in html
        and "std_error" not in html
    )
    assert repr(cp.GammaGammaModel()) == ("GammaGammaModel()")


def test_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        cp.BetaGeoModel().probability_alive(frequency=[1], recency=[1], T=[2])


def test_from_params_predicts_like_a_fit(bg_cdnow, cdnow_summary):
    clone = cp.BetaGeoModel.from_params(bg_cdnow.params_, time_unit="W")
    pd.testing.assert_series_equal(
        clone.expected_purchases(39, cdnow_summary), bg_cdnow.expected_purchases(39, cdnow_summary)
    )
    with pytest.raises(ClvDataError, match="missing \\['b'\\]"):
        cp.BetaGeoModel.from_params({"r": 1, "alpha": 1, "a": 1})


def test_unidentified_fit_is_reported_not_returned_silently():
    flat = {"frequency": np.zeros(50), "recency": np.zeros(50), "T": np.linspace(5, 40, 50)}
    with pytest.warns(ConvergenceWarning, match="do not identify"):
        model = cp.BetaGeoModel(time_unit="W").fit(**flat)
    assert model.converged_ is False
    assert "NO:" in repr(model)
    with pytest.raises(ConvergenceError, match="did not converge"):
        cp.BetaGeoModel(time_unit="W", on_nonconvergence="raise").fit(**flat)


def test_clean_fit_emits_no_warning(cdnow_summary):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cp.BetaGeoModel().fit(cdnow_summary)
        cp.GammaGammaModel().fit(cdnow_summary)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"frequency": [1, 2], "recency": [5, 50], "T": [10, 20]}, "'recency' exceeds 'T'"),
        ({"frequency": [-1, 2], "recency": [0, 5], "T": [10, 20]}, "negative values"),
        ({"frequency": [1.5, 2], "recency": [1, 5], "T": [10, 20]}, "whole numbers"),
        (
            {"frequency": [0, 2], "recency": [3, 5], "T": [10, 20]},
            "frequency 0 must have recency 0",
        ),
        ({"frequency": [1, 2], "recency": [np.nan, 5], "T": [10, 20]}, "missing or infinite"),
        ({"frequency": [1, 2], "recency": [1, 5]}, "'T' is required"),
        ({"frequency": [1, 2, 3], "recency": [1, 5], "T": [10, 20]}, "different lengths"),
    ],
)
def test_bad_rfm_input_is_named(columns, message):
    model = cp.BetaGeoModel(time_unit="W")
    with pytest.raises(ClvDataError, match=message):
        model.fit(**{k: np.asarray(v, dtype=float) for k, v in columns.items()})


def test_gamma_gamma_refuses_nonpositive_spend_and_no_repeat_buyers():
    with pytest.raises(ClvDataError, match=r"must be > 0 for repeat buyers.*2: 0.0"):
        cp.GammaGammaModel().fit(frequency=[1, 2, 3], monetary_value=[10.0, 5.0, 0.0])
    with pytest.raises(ClvDataError, match="no customer has a repeat purchase"):
        cp.GammaGammaModel().fit(frequency=[0, 0], monetary_value=[np.nan, np.nan])


def test_gamma_gamma_ignores_one_time_buyers(cdnow_summary, gg_cdnow):
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    only_repeat = cp.GammaGammaModel().fit(repeat)
    np.testing.assert_allclose(only_repeat.params_, gg_cdnow.params_, rtol=1e-9)


def test_weights_validation(cdnow_summary):
    with pytest.raises(ClvDataError, match="weights must be finite"):
        cp.BetaGeoModel().fit(cdnow_summary, weights=-np.ones(len(cdnow_summary)))


@pytest.mark.parametrize("scale", [1e-6, 1e9, 1e20])
def test_gamma_gamma_is_currency_invariant(cdnow_summary, gg_cdnow, scale):
    """Spend in another currency scales gamma and nothing else (extreme amounts still fit)."""
    scaled = cdnow_summary.assign(monetary_value=cdnow_summary["monetary_value"] * scale)
    model = cp.GammaGammaModel().fit(scaled)
    assert model.converged_ is True
    np.testing.assert_allclose(model.params_[["p", "q"]], gg_cdnow.params_[["p", "q"]], rtol=1e-7)
    assert model.params_["gamma"] == pytest.approx(gg_cdnow.params_["gamma"] * scale, rel=1e-7)
    assert model.standard_errors_["gamma"] == pytest.approx(
        gg_cdnow.standard_errors_["gamma"] * scale, rel=1e-5
    )
    # The density of spend in the new currency is the old one divided by the scale, per customer.
    assert model.log_likelihood_ == pytest.approx(
        gg_cdnow.log_likelihood_ - 946 * np.log(scale), rel=1e-10
    )
    np.testing.assert_allclose(
        model.expected_average_value(scaled),
        gg_cdnow.expected_average_value(cdnow_summary) * scale,
        rtol=1e-7,
    )


def test_shared_docstring_sections_are_filled():
    """Model docstrings share sections through <<markers>>; none may be left unfilled."""
    for cls in (spec.cls for spec in all_models()):
        assert "<<" not in cls.__doc__, cls.__name__
        assert 'on_nonconvergence : {"warn", "raise"}\n        Whether a fit' in cls.__doc__
        assert "log_likelihood_, aic_, bic_ : float\n    converged_ : bool" in cls.__doc__


def test_fits_run_blas_single_threaded_and_restore_it():
    """The optimiser's tiny linear algebra runs with one BLAS thread; the caller's setting is
    back afterwards (threadpoolctl reports what the libraries themselves say)."""
    from threadpoolctl import ThreadpoolController

    from clvpredict._fitting import maximise_likelihood

    control = ThreadpoolController()
    before = [lib["num_threads"] for lib in control.info() if lib["user_api"] == "blas"]
    seen = []

    def negll(theta, x, weights):
        seen.append([lib["num_threads"] for lib in control.info() if lib["user_api"] == "blas"])
        # A Poisson rate: the optimum is the weighted mean.
        (rate,) = theta
        return float(weights @ (rate - x * np.log(rate))), np.array(
            [float(weights @ (1 - x / rate))]
        )

    x = np.array([0.0, 1.0, 2.0, 5.0])
    result = maximise_likelihood(negll, [x], np.ones(4), [np.array([1.0])], ["rate"])
    assert result.params[0] == pytest.approx(2.0, rel=1e-8)
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert [lib["num_threads"] for lib in control.info() if lib["user_api"] == "blas"] == before
