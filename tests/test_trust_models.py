"""Issue 9, section 2, model side: no wrong number with exit code 0 and no warning.

Each case either gives a correct answer (checked against an independent computation) or a
:class:`~clvpredict.ClvDataError` naming the value and the fix.
"""

from __future__ import annotations

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
