"""Issue 9, section 2, model side: no wrong number with exit code 0 and no warning.

Each case either gives a correct answer (checked against an independent computation) or a
:class:`~clvpredict.ClvDataError` naming the value and the fix.
"""

from __future__ import annotations

import copy
import json

import mpmath
import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import (
    ClvDataError,
    ConvergenceError,
    ConvergenceWarning,
    ModelFileError,
    NotFittedError,
)
from clvpredict._registry import all_models

# Every registered model, so that a new one is held to the same checks.
CONTINUOUS = [spec.cls for spec in all_models("purchase", discrete_time=False)]
PURCHASE = [spec.cls for spec in all_models("purchase")]
ALL_MODELS = [spec.cls for spec in all_models()]


@pytest.fixture(scope="module")
def weekly() -> pd.DataFrame:
    """CDNOW, 39-week calibration, in weeks (attrs["time_unit"] == "W")."""
    return cp.datasets.load_cdnow_summary()


@pytest.fixture(scope="module")
def monthly_periods() -> pd.DataFrame:
    """CDNOW as whole months (transaction opportunities) for the BG/BB."""
    return cp.rfm_summary(
        cp.datasets.load_cdnow(), "customer_id", "date", time_unit="M", discrete=True
    )


def _data(cls, weekly, monthly_periods) -> pd.DataFrame:
    return monthly_periods if cls is cp.BetaGeoBetaBinomModel else weekly


# ------------------------------------------------------------------------------------------
# 5. Empty data and unfitted models
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_MODELS, ids=lambda c: c.__name__)
def test_fit_refuses_data_without_rows(cls, weekly, monthly_periods):
    empty = _data(cls, weekly, monthly_periods).head(0)
    with pytest.raises(ClvDataError, match=rf"{cls.__name__}\.fit have no rows"):
        cls().fit(empty)


def test_fit_refuses_when_the_fitted_rows_weigh_nothing(weekly):
    # The Gamma-Gamma fits on repeat buyers only; here all the weight is on one-time buyers.
    weights = (weekly["frequency"] == 0).astype(float).to_numpy()
    assert weights.sum() > 0
    with pytest.raises(ClvDataError, match=r"weights of the rows GammaGammaModel fits on sum"):
        cp.GammaGammaModel().fit(weekly, weights=weights)


def _public_calls(cls, data, tmp_path):
    """Every public method that needs parameters, called with valid arguments."""
    common = {
        "summary": lambda m: m.summary(),
        "save": lambda m: m.save(tmp_path / "model.json"),
    }
    if cls is cp.GammaGammaModel:
        return common | {
            "expected_average_value": lambda m: m.expected_average_value(data),
            "population_mean": lambda m: m.population_mean(),
            "simulate": lambda m: m.simulate(data["frequency"]),
        }
    return common | {
        "expected_purchases": lambda m: m.expected_purchases(2.0, data),
        "probability_alive": lambda m: m.probability_alive(data),
        "probability_alive_at": lambda m: m.probability_alive_at(2.0, data),
        "conditional_probability_of_purchases": (
            lambda m: m.conditional_probability_of_purchases(1, 2.0, data)
        ),
        "purchases_predictive_interval": lambda m: m.purchases_predictive_interval(2.0, data),
        "expected_purchases_new_customer": lambda m: m.expected_purchases_new_customer(2.0),
        "probability_of_purchases": lambda m: m.probability_of_purchases(1, 2.0),
        "simulate": lambda m: m.simulate(data["T"]),
    }


@pytest.mark.parametrize("cls", ALL_MODELS, ids=lambda c: c.__name__)
def test_unfitted_models_say_so_in_every_method(cls, weekly, monthly_periods, tmp_path):
    data = _data(cls, weekly, monthly_periods).head(5)
    model = cls()
    assert not model.is_fitted
    for name, call in _public_calls(cls, data, tmp_path).items():
        with pytest.raises(NotFittedError, match=rf"This {cls.__name__} is not fitted yet"):
            call(model)
        assert not (tmp_path / "model.json").exists(), name


# ------------------------------------------------------------------------------------------
# 2. Horizons
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(weekly, monthly_periods):
    """One fitted model of each class, on CDNOW (weeks; months as periods for the BG/BB)."""
    return {cls: cls().fit(_data(cls, weekly, monthly_periods)) for cls in ALL_MODELS}


def _horizon_calls(data):
    return {
        "expected_purchases": ("t", lambda m, t: m.expected_purchases(t, data)),
        "probability_alive_at": ("t_future", lambda m, t: m.probability_alive_at(t, data)),
        "conditional_probability_of_purchases": (
            "t",
            lambda m, t: m.conditional_probability_of_purchases(0, t, data),
        ),
        "purchases_predictive_interval": (
            "t",
            lambda m, t: m.purchases_predictive_interval(t, data),
        ),
        "expected_purchases_new_customer": ("t", lambda m, t: m.expected_purchases_new_customer(t)),
        "probability_of_purchases": ("t", lambda m, t: m.probability_of_purchases(0, t)),
    }


@pytest.mark.parametrize("bad", [-52.0, float("nan"), float("inf")])
@pytest.mark.parametrize("cls", PURCHASE, ids=lambda c: c.__name__)
def test_bad_horizons_are_refused_by_name(cls, bad, fitted, weekly, monthly_periods):
    model = fitted[cls]
    data = _data(cls, weekly, monthly_periods).head(3)
    for argument, call in _horizon_calls(data).values():
        with pytest.raises(ClvDataError, match=rf"^{argument}={bad!r} is not a time span"):
            call(model, bad)
    # One bad element of an array of horizons is enough.
    with pytest.raises(ClvDataError, match=rf"^t holds {bad!r} that are not a time span"):
        model.expected_purchases_new_customer(np.array([1.0, bad]))


@pytest.mark.parametrize("bad", [-52, float("nan"), float("inf")])
def test_bad_clv_horizons_are_refused_by_name(bad, fitted, weekly):
    with pytest.raises(ClvDataError, match=rf"^horizon_months={bad!r}"):
        cp.predictive_clv(fitted[cp.BetaGeoModel], fitted[cp.GammaGammaModel], weekly, bad)


@pytest.mark.parametrize("n", [-1, 1.5, float("nan")])
@pytest.mark.parametrize("cls", PURCHASE, ids=lambda c: c.__name__)
def test_purchase_counts_must_be_whole(cls, n, fitted, weekly, monthly_periods):
    model = fitted[cls]
    data = _data(cls, weekly, monthly_periods).head(3)
    with pytest.raises(ClvDataError, match=rf"^n={n!r} is not a number of purchases"):
        model.probability_of_purchases(n, 2.0)
    with pytest.raises(ClvDataError, match=rf"^n={n!r} is not a number of purchases"):
        model.conditional_probability_of_purchases(n, 2.0, data)


@pytest.mark.parametrize("cls", PURCHASE, ids=lambda c: c.__name__)
def test_horizon_zero_is_the_present(cls, fitted, weekly, monthly_periods):
    model = fitted[cls]
    data = _data(cls, weekly, monthly_periods).head(50)
    assert (model.expected_purchases(0, data) == 0).all()
    assert model.expected_purchases_new_customer(0.0) == 0
    np.testing.assert_allclose(
        model.probability_alive_at(0, data), model.probability_alive(data), rtol=1e-12
    )


# ------------------------------------------------------------------------------------------
# 3. Time zero
# ------------------------------------------------------------------------------------------


def _nb_terms(r, alpha, t, n):
    """Negative binomial probabilities NB(j; r, alpha/(alpha+t)) for j = 0..n, in mpmath."""
    p, q = alpha / (alpha + t), t / (alpha + t)
    return [
        mpmath.gamma(r + j) / (mpmath.gamma(r) * mpmath.factorial(j)) * p**r * q**j
        for j in range(n + 1)
    ]


def _bgnbd_pmf_mp(n, t, r, alpha, a, b):
    """FHL (2005) eq. 8, term by term at 400 digits (enough for 1 - sum at t = 1e-300)."""
    with mpmath.workdps(400):
        r, alpha, a, b, t = (mpmath.mpf(v) for v in (r, alpha, a, b, t))
        nb = _nb_terms(r, alpha, t, n)
        value = mpmath.beta(a, b + n) / mpmath.beta(a, b) * nb[n]
        if n > 0:
            value += mpmath.beta(a + 1, b + n - 1) / mpmath.beta(a, b) * (1 - sum(nb[:n]))
        return float(value)


def _mbgnbd_pmf_mp(n, t, r, alpha, a, b):
    """MBG/NBD: gone at the first toss, alive after n purchases, or gone at the n-th."""
    with mpmath.workdps(400):
        r, alpha, a, b, t = (mpmath.mpf(v) for v in (r, alpha, a, b, t))
        nb = _nb_terms(r, alpha, t, n)
        value = mpmath.beta(a, b + n + 1) / mpmath.beta(a, b) * nb[n]
        if n == 0:
            value += a / (a + b)
        else:
            value += mpmath.beta(a + 1, b + n) / mpmath.beta(a, b) * (1 - sum(nb[:n]))
        return float(value)


@pytest.mark.parametrize("t", [0.0, 1e-300, 1e-12, 1e-6, 1.0, 39.0])
@pytest.mark.parametrize("n", [0, 1, 2, 7])
@pytest.mark.parametrize(
    "theta",
    # CDNOW estimates (weeks), and a customer's posterior after x = 5 in T = 30.
    [(0.2426, 4.4135, 0.7929, 2.4258), (5.2426, 34.4135, 0.7929, 7.4258)],
)
def test_new_customer_pmf_is_continuous_at_time_zero(theta, n, t):
    from clvpredict.beta_geo import bgnbd_probability_of_purchases
    from clvpredict.modified_beta_geo import mbgnbd_probability_of_purchases

    for function, reference in (
        (bgnbd_probability_of_purchases, _bgnbd_pmf_mp),
        (mbgnbd_probability_of_purchases, _mbgnbd_pmf_mp),
    ):
        # Relative agreement only: the values at tiny t are themselves tiny.
        np.testing.assert_allclose(function(n, t, *theta), reference(n, t, *theta), rtol=1e-12)


@pytest.mark.parametrize("cls", PURCHASE, ids=lambda c: c.__name__)
def test_nothing_happens_in_no_time(cls, fitted, weekly, monthly_periods):
    """P(0 purchases in 0 time) = 1 and P(n > 0 in 0 time) = 0, for new and known customers."""
    model = fitted[cls]
    data = _data(cls, weekly, monthly_periods).head(200)
    assert model.probability_of_purchases(0, 0.0) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_array_equal(model.probability_of_purchases(np.arange(1, 5), 0.0), 0.0)
    np.testing.assert_allclose(
        model.conditional_probability_of_purchases(0, 0.0, data), 1.0, rtol=0, atol=1e-15
    )
    np.testing.assert_array_equal(model.conditional_probability_of_purchases(3, 0.0, data), 0.0)
    interval = model.purchases_predictive_interval(0.0, data)
    np.testing.assert_array_equal(interval.to_numpy(), 0.0)


# ------------------------------------------------------------------------------------------
# 1. Units
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_by_unit() -> dict[str, pd.DataFrame]:
    """The same CDNOW history (to 1998-06-30) summarised in each unit."""
    tx = cp.datasets.load_cdnow()
    return {
        unit: cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit=unit)
        for unit in ("D", "W", "M", "Y")
    }


@pytest.fixture(scope="module")
def weekly_models(cdnow_by_unit):
    weeks = cdnow_by_unit["W"]
    models = {cls: cls().fit(weeks) for cls in CONTINUOUS}
    models[cp.GammaGammaModel] = cp.GammaGammaModel().fit(weeks)
    return models


def _predictions(model, data):
    return {
        "expected_purchases": model.expected_purchases(52, data),
        "p_alive": model.probability_alive(data),
        "p_alive_at": model.probability_alive_at(13, data),
        "p_two": model.conditional_probability_of_purchases(2, 52, data),
        "interval": model.purchases_predictive_interval(26, data),
    }


@pytest.mark.parametrize("unit", ["D", "M", "Y"])
@pytest.mark.parametrize("cls", CONTINUOUS, ids=lambda c: c.__name__)
def test_a_summary_in_another_unit_is_converted(cls, unit, weekly_models, cdnow_by_unit):
    """Issue 9: days given to a weekly model gave 321.21 expected purchases instead of 1966.66."""
    model = weekly_models[cls]
    assert model.time_unit_ == "W"
    other = cdnow_by_unit[unit]
    direct = _predictions(model, cdnow_by_unit["W"])
    converted = _predictions(model, other)
    for name, value in direct.items():
        # The summaries agree up to the rounding of durations divided by another unit length.
        np.testing.assert_allclose(converted[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    if cls is cp.BetaGeoModel:
        # The total the issue reports for the weekly summary.
        assert direct["expected_purchases"].sum() == pytest.approx(1966.66, abs=0.005)
    # The caller's data are not touched.
    pd.testing.assert_frame_equal(other, cdnow_by_unit[unit].copy())


@pytest.mark.parametrize("cls", CONTINUOUS, ids=lambda c: c.__name__)
def test_a_declared_unit_converts_the_data_it_is_fitted_on(cls, weekly_models, cdnow_by_unit):
    in_weeks = cls(time_unit="W").fit(cdnow_by_unit["D"])
    assert in_weeks.time_unit_ == "W"
    np.testing.assert_allclose(in_weeks.params_, weekly_models[cls].params_, rtol=1e-6)
    # Without a declared unit the model takes the data's: days (tests/models/test_common.py
    # checks that this is the weekly model with its time parameters 7 times larger).
    assert cls().fit(cdnow_by_unit["D"]).time_unit_ == "D"


def test_clv_of_a_summary_in_days_equals_the_weekly_one(weekly_models, cdnow_by_unit):
    """Issue 9: CLV came out 6.1 times too low for a summary in days."""
    bg, gg = weekly_models[cp.BetaGeoModel], weekly_models[cp.GammaGammaModel]
    days, weeks = cdnow_by_unit["D"], cdnow_by_unit["W"]
    direct = cp.predictive_clv(bg, gg, weeks)
    assert direct.sum() == pytest.approx(68812.01, abs=0.01)  # the weekly total
    np.testing.assert_allclose(cp.predictive_clv(bg, gg, days), direct, rtol=1e-9)
    lower_upper = ["predictive_clv_lower", "predictive_clv_upper"]
    with_interval = {
        unit: cp.predictive_clv(bg, gg, data, interval=0.8, n_draws=20, random_state=3)
        for unit, data in (("D", days), ("W", weeks))
    }
    np.testing.assert_allclose(
        with_interval["D"][lower_upper], with_interval["W"][lower_upper], rtol=1e-9
    )
    settings = {"lifetime_years": 2.0, "horizon_months": 12, "annual_discount_rate": 0.1}
    bundle = cp.ModelBundle(bg, gg, settings)
    table_days, table_weeks = bundle.score(days), bundle.score(weeks)
    model_columns = ["p_alive", "expected_purchases", "expected_avg_value", "predictive_clv"]
    np.testing.assert_allclose(table_days[model_columns], table_weeks[model_columns], rtol=1e-9)
    # The simple formula annualises T in the data's own unit.
    np.testing.assert_allclose(table_days["simple_clv"], table_weeks["simple_clv"], rtol=1e-12)
    np.testing.assert_allclose(table_days["T"], table_weeks["T"] * 7, rtol=1e-12)


def test_the_holdout_forecast_of_clv_table_is_in_the_model_unit(weekly_models):
    tx = cp.datasets.load_cdnow()
    cal = {
        unit: cp.calibration_holdout_summary(
            tx, "customer_id", "date", "1997-09-30", "1998-06-30", "amount", time_unit=unit
        )
        for unit in ("D", "W")
    }
    bg = cp.BetaGeoModel().fit(cal["W"])
    gg = cp.GammaGammaModel().fit(cal["W"])
    tables = {unit: cp.clv_table(bg, gg, data, lifetime_years=2.0) for unit, data in cal.items()}
    np.testing.assert_allclose(
        tables["D"]["expected_purchases_holdout"],
        tables["W"]["expected_purchases_holdout"],
        rtol=1e-9,
    )
    # The holdout is 1997-10-01 to 1998-06-30: 273 days, 39 weeks.
    assert (cal["W"]["duration_holdout"] == 39.0).all()
    np.testing.assert_array_equal(
        tables["W"]["expected_purchases_holdout"], bg.expected_purchases(39.0, cal["W"])
    )


def test_periods_of_another_length_are_refused(fitted, cdnow_by_unit):
    bgbb = fitted[cp.BetaGeoBetaBinomModel]
    assert bgbb.time_unit_ == "M"
    weeks = cp.rfm_summary(
        cp.datasets.load_cdnow(), "customer_id", "date", time_unit="W", discrete=True
    )
    with pytest.raises(ClvDataError, match=r"periods of one week \('W'\).*cannot be converted"):
        bgbb.expected_purchases(12, weeks)
    gg = cp.GammaGammaModel().fit(cdnow_by_unit["W"])
    with pytest.raises(ClvDataError, match=r"time_unit='M', discrete=True"):
        cp.predictive_clv(
            bgbb, gg, weeks.assign(monetary_value=cdnow_by_unit["W"]["monetary_value"])
        )
    with pytest.raises(ClvDataError, match="cannot be converted"):
        cp.BetaGeoBetaBinomModel(time_unit="M").fit(weeks)


@pytest.mark.parametrize("cls", PURCHASE, ids=lambda c: c.__name__)
def test_data_that_do_not_say_their_unit_are_refused(cls, fitted, weekly, monthly_periods):
    model = fitted[cls]
    data = _data(cls, weekly, monthly_periods).head(20)
    bare = pd.DataFrame({c: data[c].to_numpy() for c in ("frequency", "recency", "T")})
    assert bare.attrs == {}
    fix = rf'summary\.attrs\["time_unit"\] = {model.time_unit_!r}'
    reading_data = [
        "expected_purchases",
        "probability_alive",
        "probability_alive_at",
        "conditional_probability_of_purchases",
        "purchases_predictive_interval",
    ]
    calls = _public_calls(cls, bare, None)
    for name in reading_data:
        with pytest.raises(ClvDataError, match=rf"do not record their time unit.*{fix}"):
            calls[name](model)
    # Keyword arrays are in the model's unit, as documented; a frame that states it is too.
    keywords = {c: bare[c] for c in ("frequency", "recency", "T")}
    expected = model.expected_purchases(10, data).to_numpy()
    np.testing.assert_array_equal(model.expected_purchases(10, **keywords), expected)
    bare.attrs["time_unit"] = model.time_unit_
    np.testing.assert_array_equal(model.expected_purchases(10, bare), expected)


def test_evaluate_holdout_refuses_a_summary_without_unit(cdnow_cal_holdout):
    model = cp.BetaGeoModel().fit(cdnow_cal_holdout)
    bare = pd.DataFrame({c: cdnow_cal_holdout[c].to_numpy() for c in cdnow_cal_holdout.columns})
    with pytest.raises(ClvDataError, match="do not record their time unit"):
        cp.evaluation.evaluate_holdout(model, bare)


def test_unit_less_models_and_data_work_as_before(weekly):
    bare = pd.DataFrame({c: weekly[c].to_numpy() for c in ("frequency", "recency", "T")})
    model = cp.BetaGeoModel().fit(bare)
    assert model.time_unit_ is None
    reference = cp.BetaGeoModel().fit(weekly)
    np.testing.assert_allclose(
        model.expected_purchases(39, bare), reference.expected_purchases(39, weekly), rtol=1e-12
    )
    # A model that does not know its unit cannot read data that state one.
    with pytest.raises(ClvDataError, match=r"does not know its time unit.*in weeks \('W'\)"):
        model.expected_purchases(39, weekly)


def test_spend_model_has_no_time(weekly_models, cdnow_by_unit):
    gg = weekly_models[cp.GammaGammaModel]
    bare = pd.DataFrame(
        {c: cdnow_by_unit["D"][c].to_numpy() for c in ("frequency", "monetary_value")}
    )
    np.testing.assert_array_equal(
        gg.expected_average_value(bare), gg.expected_average_value(cdnow_by_unit["W"])
    )


# ------------------------------------------------------------------------------------------
# 4. Model files and fits that did not converge
# ------------------------------------------------------------------------------------------


def _tamper(path, edit) -> None:
    """Edit a saved model document and recompute its checksum, as a deliberate edit would."""
    from clvpredict.persistence import _checksum

    document = json.loads(path.read_text())
    edit(document)
    for role in ("purchase_model", "spend_model"):  # the models inside a bundle
        if role in document:
            document[role]["checksum"] = _checksum(document[role])
    document["checksum"] = _checksum(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize("bad", [-0.25, 0.0, "0.5", True, None])
@pytest.mark.parametrize("cls", ALL_MODELS, ids=lambda c: c.__name__)
def test_model_file_parameters_are_checked_on_load(cls, bad, fitted, tmp_path):
    path = fitted[cls].save(tmp_path / "model.json")
    assert cp.load_model(path).params_.equals(fitted[cls].params_)
    for name in cls._param_names:
        _tamper(path, lambda d, name=name: d["params"].__setitem__(name, bad))
        with pytest.raises(ModelFileError, match=rf"got {name}={bad!r}\..*edited or corrupted"):
            cp.load_model(path)
        path = fitted[cls].save(path)


def test_model_file_covariance_unit_and_convergence_are_checked(fitted, tmp_path):
    model = fitted[cp.BetaGeoModel]
    cases = [
        (lambda d: d["covariance"].pop(), r"covariance that is not a 4 x 4 table"),
        (lambda d: d["covariance"][0].__setitem__(1, "0.1"), r"covariance entries \['0\.1'\]"),
        (lambda d: d.__setitem__("time_unit", "fortnight"), r"time_unit='fortnight'"),
        (
            lambda d: d["settings"].__setitem__("time_unit", "weeks"),
            r"settings\.time_unit='weeks'",
        ),
        (lambda d: d["fit"].__setitem__("converged", "false"), r"fit\.converged = 'false'"),
        (lambda d: d["fit"].__setitem__("converged", 1), r"fit\.converged = 1;"),
    ]
    for edit, message in cases:
        path = model.save(tmp_path / "model.json")
        _tamper(path, edit)
        with pytest.raises(ModelFileError, match=message):
            cp.load_model(path)
    # A spend model has no time unit to carry.
    path = fitted[cp.GammaGammaModel].save(tmp_path / "spend.json")
    _tamper(path, lambda d: d.__setitem__("time_unit", "W"))
    with pytest.raises(ModelFileError, match=r"does not model time, the time unit 'W'"):
        cp.load_model(path)
    # Infinity is not JSON; Python's json module reads it all the same.
    path = model.save(tmp_path / "model.json")
    path.write_text(path.read_text().replace('"r": 0.', '"r": Infinity, "_": 0.'))
    with pytest.raises(ModelFileError, match="number that JSON does not allow"):
        cp.load_model(path)


@pytest.fixture(scope="module")
def unconverged() -> cp.BetaGeoModel:
    """A genuine fit that does not converge: one customer cannot identify four parameters."""
    tx = pd.DataFrame({"c": [1, 1, 1], "d": ["2024-01-01", "2024-02-01", "2024-03-01"]})
    rfm = cp.rfm_summary(tx, "c", "d", observation_end="2024-04-01", time_unit="W")
    with pytest.warns(ConvergenceWarning):
        model = cp.BetaGeoModel().fit(rfm)
    assert model.converged_ is False
    return model


def test_clv_refuses_a_fit_that_did_not_converge_unless_asked(unconverged, fitted, cdnow_by_unit):
    gg = fitted[cp.GammaGammaModel]
    # The refusals are about the model, not the customers: a hundred of them keep the
    # test quick (with these unidentified parameters every horizon sum is a quadrature).
    weekly = cdnow_by_unit["W"].iloc[:100]
    fix = r"allow_unconverged=True \(command line: clvpredict score --allow-unconverged\)"
    with pytest.raises(ConvergenceError, match=rf"purchase model \(BetaGeoModel\).*{fix}"):
        cp.predictive_clv(unconverged, gg, weekly)
    with pytest.raises(ConvergenceError, match=rf"purchase model.*{fix}"):
        cp.clv_table(unconverged, gg, weekly, lifetime_years=1.0)
    bundle = cp.ModelBundle(unconverged, gg, {"lifetime_years": 1.0})
    with pytest.raises(ConvergenceError, match=fix):
        bundle.score(weekly)
    # Asked, it values customers with the parameters as they are: what the same parameters
    # give when stated with from_params (converged_ None: given, not estimated, so allowed).
    given = cp.BetaGeoModel.from_params(unconverged.params_, time_unit="W")
    assert given.converged_ is None
    expected = cp.predictive_clv(given, gg, weekly)
    np.testing.assert_array_equal(
        cp.predictive_clv(unconverged, gg, weekly, allow_unconverged=True), expected
    )
    table = bundle.score(weekly, allow_unconverged=True)
    np.testing.assert_array_equal(table["predictive_clv"], expected)
    # The spend model is held to the same standard.
    spend = copy.copy(gg)
    spend.converged_ = False
    with pytest.raises(ConvergenceError, match=r"spend model \(GammaGammaModel\)"):
        cp.clv_table(fitted[cp.BetaGeoModel], spend, weekly, lifetime_years=1.0)


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("tx") / "tx.csv"
    cp.datasets.load_cdnow().to_csv(path, index=False)
    return path


def test_score_command_refuses_unconverged_and_tampered_bundles(
    unconverged, fitted, cdnow_csv, tmp_path, capsys
):
    from clvpredict.cli import main

    settings = {"lifetime_years": 1.0, "horizon_months": 12, "annual_discount_rate": 0.1}
    gg = fitted[cp.GammaGammaModel]
    path = cp.ModelBundle(unconverged, gg, settings).save(tmp_path / "model.json")
    out = tmp_path / "out"
    args = ["score", "--model", str(path), "--transactions", str(cdnow_csv), "--out", str(out)]
    assert main(args) == 3
    stderr = capsys.readouterr().err
    assert "did not converge" in stderr and "--allow-unconverged" in stderr
    assert not out.exists()
    assert main([*args, "--allow-unconverged"]) == 0
    written = pd.read_csv(out / "predictions.csv", index_col=0, float_precision="round_trip")
    rfm = cp.rfm_summary(cp.datasets.load_cdnow(), "customer_id", "date", "amount", time_unit="W")
    expected = cp.ModelBundle(unconverged, gg, settings).score(rfm, allow_unconverged=True)
    # Matched by customer id: ids read from a CSV are text, so the file is in text order.
    written = written.sort_index()
    assert written.index.equals(expected.index.sort_values())
    np.testing.assert_allclose(
        written["predictive_clv"], expected["predictive_clv"].sort_index(), rtol=1e-12
    )
    # The edited file: r = -0.25 with the checksum recomputed.
    path = cp.ModelBundle(fitted[cp.BetaGeoModel], gg, settings).save(tmp_path / "model.json")
    _tamper(path, lambda d: d["purchase_model"]["params"].__setitem__("r", -0.25))
    capsys.readouterr()
    assert main(args) == 2
    assert "r=-0.25" in capsys.readouterr().err
