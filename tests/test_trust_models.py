"""Issue 9, section 2, model side: no wrong number with exit code 0 and no warning.

Each case either gives a correct answer (checked against an independent computation) or a
:class:`~clvpredict.ClvDataError` naming the value and the fix.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError, NotFittedError

CONTINUOUS = [cp.BetaGeoModel, cp.ModifiedBetaGeoModel, cp.ParetoNBDModel]
PURCHASE = [*CONTINUOUS, cp.BetaGeoBetaBinomModel]
ALL_MODELS = [*PURCHASE, cp.GammaGammaModel]


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
