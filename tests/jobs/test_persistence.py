"""Model files: JSON round trip, bit-for-bit predictions, and clear errors for bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import clvpredict as cp
from clvpredict import ModelFileError


@pytest.mark.parametrize("which", ["bg", "gg"])
def test_round_trip_predicts_bit_for_bit(tmp_path, which, bg_cdnow, gg_cdnow, cdnow_summary):
    model = bg_cdnow if which == "bg" else gg_cdnow
    path = model.save(tmp_path / f"{which}.json")
    loaded = cp.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.params_.equals(model.params_)
    assert loaded.covariance_.equals(model.covariance_)
    assert loaded.log_likelihood_ == model.log_likelihood_
    assert loaded.converged_ is True
    if which == "bg":
        assert loaded.time_unit_ == "W"
        for t in (1.0, 39.0):
            a = loaded.expected_purchases(t, cdnow_summary).to_numpy()
            b = model.expected_purchases(t, cdnow_summary).to_numpy()
            assert np.array_equal(a, b)
        assert loaded.probability_alive(cdnow_summary).equals(
            model.probability_alive(cdnow_summary)
        )
    else:
        assert loaded.expected_average_value(cdnow_summary).equals(
            model.expected_average_value(cdnow_summary)
        )
    assert repr(loaded) == repr(model)


def test_document_contents(tmp_path, bg_cdnow, cdnow_summary):
    doc = json.loads(bg_cdnow.save(tmp_path / "m.json").read_text())
    assert doc["schema_version"] == 1
    assert doc["model_class"] == "BetaGeoModel"
    assert doc["clvpredict_version"] == cp.__version__
    assert doc["time_unit"] == "W"
    assert set(doc["params"]) == {"r", "alpha", "a", "b"}
    assert doc["created_at"].endswith("+00:00")
    training = doc["training_data"]
    assert training["n_customers"] == 2357
    assert training["fingerprint"].startswith("sha256:")
    assert training["columns"]["frequency"]["mean"] == pytest.approx(
        cdnow_summary["frequency"].mean()
    )
    assert training["share_repeat_buyers"] == pytest.approx(946 / 2357)
    # The data itself is not stored: the document stays small.
    assert len(json.dumps(doc)) < 5000


def test_fingerprint_tracks_the_data(cdnow_summary):
    a = cp.BetaGeoModel().fit(cdnow_summary).training_data_["fingerprint"]
    b = cp.BetaGeoModel().fit(cdnow_summary.copy()).training_data_["fingerprint"]
    changed = cdnow_summary.copy()
    changed.iloc[0, changed.columns.get_loc("T")] += 0.01
    c = cp.BetaGeoModel().fit(changed).training_data_["fingerprint"]
    assert a == b != c


def test_unknown_schema_version(tmp_path, bg_cdnow):
    path = bg_cdnow.save(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    doc["schema_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="schema version 99"):
        cp.load_model(path)


def test_corrupted_files(tmp_path, bg_cdnow):
    path = bg_cdnow.save(tmp_path / "m.json")
    text = path.read_text()
    # A changed digit keeps valid JSON: only the checksum can catch it.
    r_value = json.loads(text)["params"]["r"]
    tampered = text.replace(repr(r_value), repr(r_value * 1.01), 1)
    assert tampered != text
    path.write_text(tampered)
    with pytest.raises(ModelFileError, match="checksum"):
        cp.load_model(path)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        cp.load_model(path)
    with pytest.raises(ModelFileError, match="does not exist"):
        cp.load_model(tmp_path / "missing.json")
    path.write_text('{"hello": 1}')
    with pytest.raises(ModelFileError, match="not a clvpredict model file"):
        cp.load_model(path)
    assert issubclass(ModelFileError, ValueError)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, bg_cdnow, monkeypatch):
    path = bg_cdnow.save(tmp_path / "m.json")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    import clvpredict.persistence as persistence

    monkeypatch.setattr(persistence.os, "replace", explode)
    with pytest.raises(OSError, match="disk full"):
        bg_cdnow.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_params_given_models_round_trip(tmp_path, cdnow_summary):
    model = cp.BetaGeoModel.from_params({"r": 0.2, "alpha": 4, "a": 0.8, "b": 2.4}, time_unit="W")
    loaded = cp.load_model(model.save(tmp_path / "given.json"))
    assert loaded.converged_ is None
    assert np.isnan(loaded.log_likelihood_)
    assert loaded.expected_purchases(10, cdnow_summary).equals(
        model.expected_purchases(10, cdnow_summary)
    )
