"""lifetimes habits on the native API fail with messages that name the habit and the fix.

Each message must name what the caller did (lifetimes' name or call), the native way, and the
drop-in import that keeps lifetimes' API. Everything else about the models (attribute errors of
other names, hasattr, pickling, copies, signatures) behaves as before.
"""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import _lifetimes_habits, _registry, plotting

SPECS = _registry.all_models()
PURCHASE = [s for s in SPECS if s.role == "purchase"]
DROPIN = "import clvpredict.lifetimes as lifetimes"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow_summary()


@pytest.fixture(scope="module")
def bg(cdnow) -> cp.BetaGeoModel:
    return cp.BetaGeoModel().fit(cdnow)


@pytest.mark.parametrize("spec", PURCHASE, ids=[s.kind for s in PURCHASE])
def test_positional_fit_names_the_summary_and_the_dropin(spec, cdnow):
    with pytest.raises(TypeError) as caught:
        spec.cls().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    message = str(caught.value)
    assert "lifetimes' positional fit(frequency, recency, T)" in message
    assert f"{spec.cls.__name__}().fit(summary)" in message
    assert "fit(frequency=..., recency=..., T=...)" in message
    assert DROPIN in message


def test_positional_gamma_gamma_fit_and_a_lone_series(cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    with pytest.raises(TypeError, match=r"fit\(frequency, monetary_value\)") as caught:
        cp.GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    assert "fit(frequency=..., monetary_value=...)" in str(caught.value)
    with pytest.raises(TypeError, match="takes a summary DataFrame"):
        cp.BetaGeoModel().fit(cdnow["frequency"])


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_lifetimes_constructor_arguments(spec):
    # penalizer_coef is a native setting too; lifetimes passed it positionally as well.
    assert spec.cls(penalizer_coef=0.1).penalizer_coef == 0.1
    with pytest.raises(TypeError) as caught:
        spec.cls(0.1)
    message = str(caught.value)
    assert "keywords only" in message and f"{spec.cls.__name__}(penalizer_coef=" in message
    assert "lifetimes' first positional argument was penalizer_coef" in message
    assert DROPIN in message
    # Other wrong keywords keep Python's own message.
    with pytest.raises(TypeError, match="unexpected keyword argument 'tol'"):
        spec.cls(tol=1e-6)


@pytest.mark.parametrize(
    ("name", "native"),
    [
        ("predict", "model.expected_purchases(t, summary)"),
        ("conditional_expected_number_of_purchases_up_to_time", "model.expected_purchases("),
        ("conditional_probability_alive", "model.probability_alive(summary)"),
        ("conditional_probability_alive_matrix", "plot_probability_alive_heatmap(model)"),
        ("expected_number_of_purchases_up_to_time", "model.expected_purchases_new_customer(t)"),
        ("probability_of_n_purchases_up_to_time", "model.probability_of_purchases(n, t)"),
        ("conditional_probability_of_n_purchases_up_to_time", "conditional_probability_of"),
        ("save_model", "model.save(path)"),
        ("load_model", "clvpredict.load_model(path)"),
        ("generate_new_data", "model.simulate("),
        ("variance_matrix_", "model.covariance_"),
        ("confidence_intervals_", "model.summary()"),
    ],
)
@pytest.mark.parametrize("spec", PURCHASE, ids=[s.kind for s in PURCHASE])
def test_lifetimes_method_names_on_purchase_models(spec, name, native, bg):
    model = spec.cls()
    with pytest.raises(AttributeError) as caught:
        getattr(model, name)
    message = str(caught.value)
    assert f"has no {name!r}, a name of lifetimes' fitters" in message
    assert native in message and DROPIN in message
    assert caught.value.name == name
    assert not hasattr(model, name)


def test_gamma_gamma_gets_its_own_names_only():
    spend = cp.GammaGammaModel()
    for name, native in [
        ("conditional_expected_average_profit", "model.expected_average_value(summary)"),
        ("customer_lifetime_value", "clvpredict.clv_table(purchase_model, spend_model"),
    ]:
        with pytest.raises(AttributeError, match=r"has no '\w+', a name of lifetimes") as caught:
            getattr(spend, name)
        assert native in str(caught.value)
    # Purchase-model names are not offered to a spend model, nor spend names to BG/NBD.
    with pytest.raises(AttributeError) as caught:
        spend.conditional_probability_alive  # noqa: B018
    assert str(caught.value) == (
        "'GammaGammaModel' object has no attribute 'conditional_probability_alive'"
    )
    with pytest.raises(AttributeError, match=r"^'BetaGeoModel' object has no attribute"):
        cp.BetaGeoModel().customer_lifetime_value  # noqa: B018


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_other_names_fail_as_before(spec):
    model = spec.cls()
    with pytest.raises(AttributeError) as caught:
        model.no_such_name  # noqa: B018
    assert str(caught.value) == f"'{spec.cls.__name__}' object has no attribute 'no_such_name'"
    assert getattr(model, "params_", None) is None
    assert not model.is_fitted
    with pytest.raises(cp.NotFittedError):
        model.summary()


def test_fitted_models_pickle_copy_and_keep_their_signatures(bg, cdnow):
    for clone in (pickle.loads(pickle.dumps(bg)), copy.deepcopy(bg), copy.copy(bg)):
        pd.testing.assert_series_equal(clone.params_, bg.params_)
        np.testing.assert_array_equal(
            clone.expected_purchases(10, cdnow), bg.expected_purchases(10, cdnow)
        )
    assert list(inspect.signature(cp.BetaGeoModel.fit).parameters) == [
        "self",
        "data",
        "covariates",
        "frequency",
        "recency",
        "T",
        "weights",
    ]
    assert list(inspect.signature(cp.BetaGeoModel).parameters) == [
        "time_unit",
        "purchase_covariates",
        "dropout_covariates",
        "shared_covariates",
        "categorical_covariates",
        "reference_levels",
        "covariate_penalty",
        "on_nonconvergence",
        "penalizer_coef",
    ]


@pytest.mark.parametrize(
    ("name", "native"),
    [
        ("plot_probability_alive_matrix", "plot_probability_alive_heatmap(model"),
        ("plot_frequency_recency_matrix", "plot_expected_purchases_heatmap(model, t=1.0"),
        ("plot_calibration_purchases_vs_holdout_purchases", "plot_calibration_vs_holdout("),
        ("plot_history_alive", "plot_probability_alive_history(model"),
    ],
)
def test_lifetimes_plot_names(name, native):
    with pytest.raises(AttributeError) as caught:
        getattr(plotting, name)
    message = str(caught.value)
    assert f"clvpredict.plotting has no {name}, a function of lifetimes.plotting" in message
    assert f"clvpredict.plotting.{native}" in message and DROPIN in message
    with pytest.raises(AttributeError, match=r"^module 'clvpredict\.plotting' has no attribute"):
        plotting.plot_nothing  # noqa: B018


def test_every_hint_points_at_a_name_that_exists():
    for habit in _lifetimes_habits.FITTER_NAMES.values():
        if habit.needs is not None:
            assert any(hasattr(spec.cls, habit.needs) for spec in SPECS), habit
    for name, habit in _lifetimes_habits.PLOTTING_NAMES.items():
        native = habit.native.split("(")[0]
        if native.startswith("clvpredict.plotting."):
            assert hasattr(plotting, native.rsplit(".", 1)[1]), name
