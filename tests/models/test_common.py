"""The model registry is the one list of models, and every registered model keeps the contract.

Like scikit-learn's common tests over ``all_estimators()``: each check here runs over every
registered model, so a new model module is covered without touching this file.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from clvpredict._base import BaseModel, PurchaseModel
from clvpredict.cli import build_parser
from clvpredict.pipeline import purchase_model_class, purchase_model_kinds

import clvpredict as cp
from clvpredict import _registry
from clvpredict.evaluation import default_purchase_models, model_label
from clvpredict.jobs import render

SPECS = _registry.all_models()


def _exported_model_classes() -> set[type]:
    """Model classes found independently of the registry: what the package exports."""
    return {
        obj
        for obj in vars(cp).values()
        if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.kind
    }


def test_the_registry_holds_every_exported_model_once():
    assert {spec.cls for spec in SPECS} == _exported_model_classes()
    assert len({spec.kind for spec in SPECS}) == len(SPECS) == 5
    assert [s.kind for s in SPECS] == ["bgnbd", "mbgnbd", "paretonbd", "bgbb", "gammagamma"]
    for spec in SPECS:
        assert spec.role == ("purchase" if issubclass(spec.cls, PurchaseModel) else "spend")
        assert spec.discrete_time == bool(getattr(spec.cls, "discrete_time", False))


def test_jobs_evaluation_and_cli_read_the_registry():
    purchase = [s.kind for s in _registry.all_models("purchase")]
    assert purchase_model_kinds() == [*purchase, "auto"]
    for kind in purchase:
        assert purchase_model_class(kind) is _registry.model_spec(kind).cls
    continuous = [s.cls for s in _registry.all_models("purchase", discrete_time=False)]
    assert [type(m) for m in default_purchase_models()] == continuous
    refresh = build_parser()._subparsers._group_actions[0].choices["refresh"]
    (action,) = [a for a in refresh._actions if a.dest == "purchase_model"]
    assert list(action.choices) == purchase_model_kinds()


def test_unknown_kinds_are_refused_with_the_known_ones():
    with pytest.raises(cp.ClvDataError, match=r"purchase_model='bgnbdx' is not one of \['bgnbd'"):
        purchase_model_class("bgnbdx")
    with pytest.raises(cp.ClvDataError, match="gammagamma"):
        _registry.model_spec("gammagamma", "purchase")


def test_a_new_model_class_registers_itself_and_a_taken_kind_is_refused(monkeypatch):
    monkeypatch.setattr(_registry, "_MODELS", dict(_registry._MODELS))

    class ToyModel(PurchaseModel):
        kind = "toy"
        label = "Toy"
        citation = "nobody 2026"

    spec = _registry.model_spec("toy")
    assert spec.cls is ToyModel and spec.role == "purchase"
    assert ToyModel._model_name == "Toy (nobody 2026)"
    with pytest.raises(TypeError, match="'bgnbd' is taken by BetaGeoModel"):

        class Impostor(PurchaseModel):
            kind = "bgnbd"
            label = "Impostor"
            citation = "nobody 2026"


# ------------------------------------------------------------------------------------------
# Common checks over every registered model
# ------------------------------------------------------------------------------------------

#: Published estimates (shared/REFERENCE.md) by registry kind: CDNOW in weeks, the donations in
#: periods (BG/BB).
PARAMS = {
    "bgnbd": {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "paretonbd": {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668},
    "bgbb": {"alpha": 1.2035, "beta": 0.7498, "gamma": 0.6568, "delta": 2.7839},
    "gammagamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
}


def test_every_registered_model_has_test_parameters():
    assert set(PARAMS) == {spec.kind for spec in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_label_title_and_summary(spec):
    model = spec.cls.from_params(PARAMS[spec.kind])
    assert model_label(model) == spec.label
    assert repr(model).startswith(f"<{spec.cls.__name__}: {spec.title}>")
    assert spec.label in model._repr_html_()
    # One summary object behind the console, the notebook and the report.
    overview = model.overview()
    assert repr(model) == overview.as_text() == repr(overview)
    assert model._repr_html_() == overview.as_html() == render._model_block(model)
    pd.testing.assert_frame_equal(overview.parameters, model.summary())
    with pytest.raises(cp.NotFittedError):
        spec.cls().overview()


def _fit_data(spec) -> tuple[pd.DataFrame, dict]:
    """Data the model can be fitted on: CDNOW weeks, or the donations' whole periods."""
    if spec.discrete_time:
        return cp.datasets.load_donations(), {"weights": "weights"}
    return cp.datasets.load_cdnow_summary(), {}


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_save_and_load_round_trip_predicts_bit_for_bit(spec, tmp_path):
    data, options = _fit_data(spec)
    fitted = spec.cls(on_nonconvergence="raise").fit(data, **options)
    path = fitted.save(tmp_path / f"{spec.kind}.json")
    loaded = cp.load_model(path)
    assert type(loaded) is spec.cls
    pd.testing.assert_series_equal(loaded.params_, fitted.params_, check_exact=True)
    pd.testing.assert_frame_equal(loaded.covariance_, fitted.covariance_, check_exact=True)
    assert loaded.time_unit_ == fitted.time_unit_
    assert repr(loaded) == repr(fitted)
    if spec.role == "purchase":
        for t in (0.0, 1.0, 10.0):
            pd.testing.assert_series_equal(
                loaded.expected_purchases(t, data), fitted.expected_purchases(t, data), rtol=0
            )
        pd.testing.assert_series_equal(
            loaded.probability_alive(data), fitted.probability_alive(data), rtol=0
        )
    else:
        pd.testing.assert_series_equal(
            loaded.expected_average_value(data), fitted.expected_average_value(data), rtol=0
        )


# ------------------------------------------------------------------------------------------
# Simulate and recover: every model's simulator and its fit are each other's inverse
# ------------------------------------------------------------------------------------------


def cdnow_like_T(n: int, rng: np.random.Generator) -> np.ndarray:
    """Observation lengths of a cohort acquired over 12 weeks and observed to week 39."""
    return rng.uniform(27.0, 39.0, size=n)


def simulate_for(spec, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Customers of a model at its published parameters, observed as its own data are.

    Calendar-time purchase models: ``n`` customers of a CDNOW-like cohort, in weeks. Discrete
    time: ``n`` customers with 6 opportunities, like the donations. Spend models: the repeat
    buyers among ``n`` simulated BG/NBD customers (about 40% of them), CDNOW's frequencies.
    """
    truth = spec.cls.from_params(PARAMS[spec.kind])
    if spec.role == "spend":
        buyers = cp.BetaGeoModel.from_params(PARAMS["bgnbd"], time_unit="W").simulate(
            cdnow_like_T(n, rng), random_state=rng
        )
        repeat = buyers.loc[buyers["frequency"] > 0, "frequency"]
        data = truth.simulate(repeat, random_state=rng)
        assert data.index.equals(repeat.index)  # a Series lends its index
        return data
    if spec.discrete_time:
        return truth.simulate(6, n_customers=n, random_state=rng)
    truth = spec.cls.from_params(PARAMS[spec.kind], time_unit="W")
    data = truth.simulate(cdnow_like_T(n, rng), random_state=rng)
    assert data.attrs["time_unit"] == "W"
    return data


def covers(model, truth: dict[str, float], alpha: float) -> pd.Series:
    """Whether each true parameter lies inside the model's (1 - alpha) Wald interval."""
    table = model.summary(alpha=alpha)
    level = round(100 * (1 - alpha))
    true = pd.Series(truth)[table.index]
    return (table[f"lower_{level}"] < true) & (true < table[f"upper_{level}"])


@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_simulate_and_recover(spec):
    """A data set the size of the published one, simulated at the published parameters and
    fitted, puts the truth inside every 99% interval of ``summary(alpha=0.01)``."""
    size = 11_104 if spec.discrete_time else 12_000 if spec.role == "spend" else 10_000
    rng = np.random.default_rng(31 + SPECS.index(spec))
    data = simulate_for(spec, size, rng)
    fitted = spec.cls().fit(data)
    assert fitted.converged_
    if spec.role == "purchase" and not spec.discrete_time:
        assert fitted.time_unit_ == "W"  # carried by data.attrs
    assert covers(fitted, PARAMS[spec.kind], alpha=0.01).all(), fitted.summary(alpha=0.01)


COVERAGE_REPETITIONS = 200
COVERAGE_CUSTOMERS = 5_000


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=[s.kind for s in SPECS])
def test_interval_coverage(spec):
    """The 95% intervals cover the truth in 95% of 200 simulate-and-fit repetitions."""
    # Deselected by default (pyproject: -m 'not slow'); run with `pytest -m slow`.
    rng = np.random.default_rng([20261204, SPECS.index(spec)])
    truth = PARAMS[spec.kind]
    inside = []
    for _ in range(COVERAGE_REPETITIONS):
        fitted = spec.cls().fit(simulate_for(spec, COVERAGE_CUSTOMERS, rng))
        # A fit that did not converge counts as missing the truth: coverage is of the procedure.
        hit = covers(fitted, truth, alpha=0.05) if fitted.converged_ else None
        inside.append(hit if hit is not None else pd.Series(False, index=list(truth)))
    coverage = pd.DataFrame(inside).mean()
    # Covering counts are Binomial(200, 0.95) at the nominal rate: allow 4 standard errors.
    se = np.sqrt(0.95 * 0.05 / COVERAGE_REPETITIONS)
    assert (np.abs(coverage - 0.95) <= 4 * se).all(), coverage.to_dict()


# ------------------------------------------------------------------------------------------
# Units: the same customers in days or weeks are the same model
# ------------------------------------------------------------------------------------------

CALENDAR = [s for s in SPECS if s.role == "purchase" and not s.discrete_time]


@pytest.fixture(scope="module")
def cdnow_weeks_and_days() -> tuple[pd.DataFrame, pd.DataFrame]:
    weeks = cp.datasets.load_cdnow_summary()
    days = weeks.assign(recency=weeks["recency"] * 7, T=weeks["T"] * 7)
    days.attrs["time_unit"] = "D"  # assign keeps the attrs of the weekly summary
    return weeks, days


def test_time_parameters_are_declared_by_the_calendar_models():
    """The scale parameters of the Gamma distributions of rates, named in each paper."""
    declared = {s.kind: s.cls._time_parameters for s in SPECS}
    assert declared == {
        "bgnbd": ("alpha",),
        "mbgnbd": ("alpha",),
        "paretonbd": ("alpha", "beta"),
        "bgbb": (),
        "gammagamma": (),
    }


@pytest.mark.parametrize("spec", CALENDAR, ids=[s.kind for s in CALENDAR])
def test_days_and_weeks_are_the_same_model(spec, cdnow_weeks_and_days):
    """CDNOW in days and in weeks: the time parameters are 7 times larger in days, the others
    equal; ln L is lower by sum(x) ln 7 (a density in time); and every prediction of the daily
    model at 7t equals the weekly one at t."""
    weeks, days = cdnow_weeks_and_days
    weekly = spec.cls(on_nonconvergence="raise").fit(weeks)
    daily = spec.cls(on_nonconvergence="raise").fit(days)
    assert (weekly.time_unit_, daily.time_unit_) == ("W", "D")
    scale = pd.Series(
        {k: 7.0 if k in spec.cls._time_parameters else 1.0 for k in PARAMS[spec.kind]}
    )
    # Two optima found to the optimiser's precision agree to a sliver of a standard error.
    gap = (daily.params_ - weekly.params_ * scale[daily.params_.index]).abs()
    assert (gap <= 1e-3 * daily.standard_errors_).all(), gap
    shift = weeks["frequency"].sum() * np.log(7.0)
    assert daily.log_likelihood_ == pytest.approx(weekly.log_likelihood_ - shift, rel=1e-10)
    # The predictions of one model with its time parameters scaled exactly.
    exact = spec.cls.from_params(weekly.params_ * scale[weekly.params_.index], time_unit="D")
    pairs = [
        (exact.expected_purchases(7 * 52.0, days), weekly.expected_purchases(52.0, weeks)),
        (exact.probability_alive(days), weekly.probability_alive(weeks)),
        (exact.probability_alive_at(7 * 13.0, days), weekly.probability_alive_at(13.0, weeks)),
        (
            exact.conditional_probability_of_purchases(2, 7 * 52.0, days),
            weekly.conditional_probability_of_purchases(2, 52.0, weeks),
        ),
        (
            exact.expected_purchases_new_customer([7.0, 7 * 39.0]),
            weekly.expected_purchases_new_customer([1.0, 39.0]),
        ),
    ]
    for in_days, in_weeks in pairs:
        np.testing.assert_allclose(np.asarray(in_days), np.asarray(in_weeks), rtol=1e-9)
