"""The estimator contract, for every registered model that takes covariates.

Like ``test_common.py`` over all models: fitted on the shipped covariate data set (simulated from
the BG/NBD with the truth recorded, see ``data/README.md``), each model returns itself from
``fit``, names its coefficients, predicts each customer with their own parameters, indexed like
the input, and saves and loads bit for bit. The numbers asserted are identities between two ways
of computing the same quantity.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError, NotFittedError
from clvpredict._registry import all_models
from clvpredict.data import datasets

SPECS = all_models(covariates=True)
SETTINGS = {
    "purchase_covariates": ["channel", "age_decades"],
    "dropout_covariates": ["loyalty"],
    "reference_levels": {"channel": "store"},
}


def test_the_covariate_models_are_the_three_continuous_time_purchase_models():
    assert [s.kind for s in SPECS] == ["bgnbd", "mbgnbd", "paretonbd"]
    assert not any(s.covariates for s in all_models() if s.kind in ("bgbb", "gammagamma"))


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    summary = datasets.load_covariates_summary()
    # Every other customer: enough for every coefficient, half the time.
    return cp.attach_covariates(summary, datasets.load_covariates_customers()).iloc[::2]


@pytest.fixture(scope="module")
def fitted(customers) -> dict[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", cp.ConvergenceWarning)
        return {s.kind: s.cls(**SETTINGS).fit(customers) for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_fit_returns_self_and_names_the_coefficients(spec, customers):
    model = spec.cls(**SETTINGS)
    with pytest.raises(NotFittedError):
        model.probability_alive(customers)
    assert model.fit(customers) is model
    base = list(spec.cls._param_names)
    assert list(model.params_.index) == [
        *base,
        # The channel's declared categories are store (the reference), web, partner.
        "purchase.channel[web]",
        "purchase.channel[partner]",
        "purchase.age_decades",
        "dropout.loyalty",
    ]
    assert list(model.standard_errors_.index) == list(model.params_.index)
    assert model.converged_ is True
    # The fit without covariates is nested in this one.
    assert model.log_likelihood_ >= model.null_log_likelihood_
    # Settings are stored as given; learned state ends in "_".
    assert model.purchase_covariates == ["channel", "age_decades"]
    assert model.covariate_design_.columns == ("channel", "age_decades", "loyalty")


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_each_customer_is_predicted_with_the_parameters_of_their_profile(spec, customers, fitted):
    model = fitted[spec.kind]
    shuffled = customers.sample(frac=1.0, random_state=1).iloc[:300]
    shuffled.attrs = dict(customers.attrs)
    alive = model.probability_alive(shuffled)
    expected = model.expected_purchases(26.0, shuffled)
    assert alive.index.equals(shuffled.index) and expected.index.equals(shuffled.index)
    for customer in shuffled.index[:25]:
        row = shuffled.loc[[customer]]
        profile = row[["channel", "age_decades", "loyalty"]].iloc[0].to_dict()
        plain = model.profile_model(profile)
        assert alive[customer] == pytest.approx(plain.probability_alive(row).iloc[0], rel=1e-12)
        assert expected[customer] == pytest.approx(
            plain.expected_purchases(26.0, row).iloc[0], rel=1e-12
        )


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_profile_models_are_the_profile_model_of_each_distinct_row(spec, customers, fitted):
    model = fitted[spec.kind]
    rows = customers[["channel", "age_decades", "loyalty"]].iloc[:60]
    # Repeat every row, so each profile appears (at least) twice.
    rows = pd.concat([rows, rows.iloc[::-1]])
    models, profile_of = model.profile_models(rows)
    assert len(profile_of) == len(rows)
    assert len(models) == len(rows.drop_duplicates())
    for position, (_, values) in enumerate(rows.iterrows()):
        one = model.profile_model(values.to_dict())
        mine = models[profile_of[position]]
        np.testing.assert_allclose(mine.params_, one.params_, rtol=1e-14)
        np.testing.assert_allclose(mine.covariance_, one.covariance_, rtol=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_a_profile_of_zeros_is_the_population_model(spec, customers, fitted):
    model = fitted[spec.kind]
    zero = model.profile_model({"channel": "store", "age_decades": 0.0, "loyalty": 0})
    np.testing.assert_array_equal(zero.params_.to_numpy(), model.params_.to_numpy()[:4])
    assert model.expected_purchases_new_customer(
        52.0, covariates={"channel": "store", "age_decades": 0.0, "loyalty": 0}
    ) == zero.expected_purchases_new_customer(52.0)


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_save_and_load_predicts_bit_for_bit(spec, customers, fitted, tmp_path):
    model = fitted[spec.kind]
    loaded = cp.load_model(model.save(tmp_path / "model.json"))
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    pd.testing.assert_series_equal(
        loaded.expected_purchases(39.0, customers), model.expected_purchases(39.0, customers)
    )
    pd.testing.assert_frame_equal(loaded.summary(), model.summary())
    pd.testing.assert_series_equal(loaded.likelihood_ratio_test(), model.likelihood_ratio_test())


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_predictions_need_the_covariates(spec, customers, fitted):
    model = fitted[spec.kind]
    with pytest.raises(ClvDataError) as refused:
        model.probability_alive(customers[["frequency", "recency", "T"]])
    message = str(refused.value)
    assert "lack its covariate column(s) ['channel', 'age_decades', 'loyalty']" in message
    assert "clvpredict.attach_covariates(summary, customers)" in message
    with pytest.raises(ClvDataError) as refused:
        spec.cls(**SETTINGS).fit(customers[["frequency", "recency", "T", "channel"]])
    message = str(refused.value)
    assert "name the column(s) ['age_decades', 'loyalty'], which the data lack" in message
    assert "clvpredict.attach_covariates(summary, customers)" in message
    assert "fit(summary, covariates=customers)" in message
    with pytest.raises(ClvDataError, match="keyword arrays"):
        model.probability_alive(frequency=[1], recency=[1.0], T=[2.0])
    with pytest.raises(ClvDataError, match="covariates="):
        model.expected_purchases_new_customer(10.0)


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_without_covariate_settings_the_model_is_the_plain_one(spec, customers):
    plain = spec.cls().fit(customers)
    assert list(plain.params_.index) == list(spec.cls._param_names)
    assert not hasattr(plain, "covariate_design_")
    with pytest.raises(ClvDataError, match="names no covariate"):
        spec.cls().fit(customers, covariates=customers[["channel"]])


def test_the_printed_summary_of_a_penalised_fit_shows_the_penalty_and_no_lr_test(customers, fitted):
    penalised = cp.BetaGeoModel(
        purchase_covariates=["channel"], covariate_penalty=0.001, penalizer_coef=0.01
    ).fit(customers)
    header = dict(penalised.overview().header)
    assert header["penalty"] == "penalizer_coef 0.01, covariate_penalty 0.001 (L2)"
    assert header["vs none"] == "no LR test: the fit is penalised, not maximum likelihood"
    assert "penalty         penalizer_coef 0.01, covariate_penalty 0.001 (L2)" in repr(penalised)
    assert "no LR test: the fit is penalised" in penalised._repr_html_()
    # Maximum likelihood: no penalty line, and the test's own numbers.
    model = fitted["bgnbd"]
    header = dict(model.overview().header)
    test = model.likelihood_ratio_test()
    assert "penalty" not in header
    assert header["vs none"] == (f"LR {test['statistic']:.2f} on 4 df, p = {test['p_value']:.3g}")
    # Without covariates, the population penalty alone.
    plain = cp.BetaGeoModel(penalizer_coef=0.01).fit(customers)
    header = dict(plain.overview().header)
    assert header["penalty"] == "penalizer_coef 0.01 (L2)" and "vs none" not in header


def test_data_without_a_time_unit_are_not_told_to_use_keyword_arrays(customers, fitted):
    """A covariate model refuses keyword arrays, so its refusal of data that record no time
    unit does not offer them; the plain model's still does."""
    unlabelled = customers.copy()
    unlabelled.attrs = {}
    with pytest.raises(ClvDataError, match="do not record their time unit") as refused:
        fitted["bgnbd"].probability_alive(unlabelled)
    assert "as arrays" not in str(refused.value)
    plain = cp.BetaGeoModel.from_params(fitted["bgnbd"].null_params_, time_unit="W")
    with pytest.raises(ClvDataError, match="do not record their time unit") as refused:
        plain.probability_alive(unlabelled)
    assert "or pass frequency=, recency=, T= as arrays in weeks" in str(refused.value)
