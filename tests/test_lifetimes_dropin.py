"""clvpredict.lifetimes against the real lifetimes 0.11.3 (the test oracle) on the same data."""

from __future__ import annotations

import dill
import lifetimes as oracle
import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
import clvpredict.lifetimes as lt
from clvpredict.lifetimes.datasets import (
    load_cdnow_summary_data_with_monetary_value,
    load_transaction_data,
)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_summary_data_with_monetary_value()


@pytest.mark.parametrize("penalizer", [0.0, 0.1])
def test_bgnbd_estimates_and_predictions_match_lifetimes(cdnow, penalizer):
    ours = lt.BetaGeoFitter(penalizer_coef=penalizer).fit(
        cdnow["frequency"], cdnow["recency"], cdnow["T"]
    )
    theirs = oracle.BetaGeoFitter(penalizer_coef=penalizer).fit(
        cdnow["frequency"], cdnow["recency"], cdnow["T"]
    )
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=1e-4)
    np.testing.assert_allclose(ours.standard_errors_, theirs.standard_errors_, rtol=1e-3)
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_allclose(ours.predict(10, *args), theirs.predict(10, *args), rtol=1e-4)
    np.testing.assert_allclose(
        ours.conditional_probability_alive(*args),
        theirs.conditional_probability_alive(*args),
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        ours.conditional_probability_alive_matrix(),
        theirs.conditional_probability_alive_matrix(),
        rtol=1e-4,
    )
    assert repr(ours) == repr(theirs)


def test_gamma_gamma_and_clv_match_lifetimes(cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    ours = lt.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    theirs = oracle.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(ours.params_, theirs.params_, rtol=1e-4)
    bg_ours = lt.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    bg_theirs = oracle.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
    clv_ours = ours.customer_lifetime_value(bg_ours, *args, freq="W")
    clv_theirs = theirs.customer_lifetime_value(bg_theirs, *args, freq="W")
    assert clv_ours.index.equals(cdnow.index)
    np.testing.assert_allclose(clv_ours, clv_theirs, rtol=1e-4)


def test_pareto_nbd_nobody_buys_in_no_time(cdnow):
    model = lt.ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert model.conditional_probability_of_n_purchases_up_to_time(0, 0.0, 2, 30.0, 39.0) == 1.0
    total = sum(
        model.conditional_probability_of_n_purchases_up_to_time(n, 5.0, 2, 30.0, 39.0)
        for n in range(60)
    )
    assert total == pytest.approx(1.0, abs=1e-9)


def test_saved_as_json_and_pickles_refused(cdnow, tmp_path):
    model = lt.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    path = tmp_path / "bgf.json"
    model.save_model(path)
    loaded = lt.BetaGeoFitter()
    loaded.load_model(path)
    assert repr(loaded) == repr(model)
    np.testing.assert_allclose(loaded.predict(5, 2, 30.0, 39.0), model.predict(5, 2, 30.0, 39.0))
    pickled = tmp_path / "bgf.pkl"
    pickled.write_bytes(dill.dumps({"params_": dict(model.params_)}))
    with pytest.raises(ValueError, match="Refit"):
        lt.BetaGeoFitter().load_model(pickled)


def test_summary_from_transactions_matches_lifetimes():
    log = load_transaction_data()
    ours = lt.utils.summary_data_from_transaction_data(log, "id", "date", freq="W")
    theirs = oracle.utils.summary_data_from_transaction_data(log, "id", "date", freq="W")
    pd.testing.assert_frame_equal(ours, theirs.astype(float), check_names=False)


def _seed_lifetimes_style(seed: int) -> None:
    """lifetimes' simulators (and the drop-in's) draw from numpy's global random state."""
    np.random.seed(seed)  # noqa: NPY002


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("beta_geometric_nbd_model", (1.5, 1.0, 0.3, 6.0)),
        ("modified_beta_geometric_nbd_model", (1.5, 1.0, 0.3, 6.0)),
        ("pareto_nbd_model", (1.5, 1.0, 0.5, 20.0)),
    ],
)
def test_simulated_frequency_counts_distinct_periods_as_lifetimes(name, params):
    """About 1.5 purchases per unit: many customers buy twice in a unit, which counts once."""
    _seed_lifetimes_style(11)
    theirs = getattr(oracle.generate_data, name)(8.0, *params, size=5000)
    _seed_lifetimes_style(11)
    ours = getattr(lt.generate_data, name)(8.0, *params, size=40000)
    assert ours["frequency"].max() == 8.0
    for column in ("frequency", "recency", "alive"):
        a, b = theirs[column].astype(float), ours[column].astype(float)
        error = np.hypot(a.std() / np.sqrt(len(a)), b.std() / np.sqrt(len(b)))
        assert abs(a.mean() - b.mean()) < 4 * error, column
    # Counting every repeat purchase instead (the native simulators) gives clearly more.
    native = {
        "beta_geometric_nbd_model": cp.simulation.simulate_bgnbd,
        "modified_beta_geometric_nbd_model": cp.simulation.simulate_mbgnbd,
        "pareto_nbd_model": cp.simulation.simulate_pareto_nbd,
    }[name](*params, 8.0, n_customers=40000, random_state=11)
    error = np.hypot(theirs["frequency"].std() / np.sqrt(5000), native["frequency"].std() / 200)
    assert native["frequency"].mean() - theirs["frequency"].mean() > 10 * error


def test_transaction_log_summary_gives_the_simulated_customers():
    _seed_lifetimes_style(5)
    customers = lt.generate_data.beta_geometric_nbd_model(30, 1.5, 1.0, 0.3, 6.0, size=300)
    _seed_lifetimes_style(5)
    log = lt.generate_data.beta_geometric_nbd_model_transactional_data(
        30, 1.5, 1.0, 0.3, 6.0, observation_period_end="2020-06-30", freq="D", size=300
    )
    summary = lt.utils.summary_data_from_transaction_data(
        log, "customer_id", "date", observation_period_end="2020-06-30", freq="D"
    )
    assert (customers["frequency"] < log.groupby("customer_id").size() - 1).sum() > 100
    np.testing.assert_array_equal(summary["frequency"], customers["frequency"])
    np.testing.assert_array_equal(summary["recency"], np.ceil(customers["recency"]))
    np.testing.assert_array_equal(summary["T"], customers["T"])


def test_period_transactions_opens_its_own_figure_as_lifetimes_did(cdnow):
    import matplotlib.pyplot as plt

    bgf = lt.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    plt.figure()
    other = plt.gca()
    other.plot([0, 1], [0, 1])
    from clvpredict.lifetimes.plotting import plot_period_transactions

    ax = plot_period_transactions(bgf)
    # Its own axes: the 7 actual and 7 expected bars only, the other plot left alone.
    assert ax is not other and len(ax.patches) == 14 and len(other.lines) == 1
    counts = [p.get_height() for p in ax.patches[:7]]
    assert counts == [1411, 439, 214, 100, 62, 38, 29]
    plt.close("all")
