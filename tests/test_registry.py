"""The model registry is the one list of models, and every registered model keeps the contract.

Like scikit-learn's common tests over ``all_estimators()``: each check here runs over every
registered model, so a new model module is covered without touching this file.
"""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import _registry, report
from clvpredict._base import BaseModel, PurchaseModel
from clvpredict.cli import build_parser
from clvpredict.evaluation import default_purchase_models, model_label
from clvpredict.pipeline import purchase_model_class, purchase_model_kinds

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

PARAMS = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
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
    assert model._repr_html_() == overview.as_html() == report._model_block(model)
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
