"""The "Coming from lifetimes" page (docs/coming_from_lifetimes.md) cannot rot.

Every name in its tables exists (lifetimes' under ``clvpredict.lifetimes``, the native ones under
``clvpredict``), every lifetimes name the native API answers with a hint is on the page, and the
numbers the page quotes come out of lifetimes 0.11.3 (the test oracle) and clvpredict.
"""

from __future__ import annotations

import re
from pathlib import Path

import lifetimes as oracle
import lifetimes.datasets
import lifetimes.utils
import numpy as np
import pytest

import clvpredict as cp
import clvpredict.lifetimes as lt
import clvpredict.lifetimes.plotting
from clvpredict import _lifetimes_habits

PAGE = Path(__file__).resolve().parents[1] / "docs" / "coming_from_lifetimes.md"
TEXT = PAGE.read_text()


def _rows() -> list[tuple[str, str]]:
    """(lifetimes name, native name or "—") of every table row: each cell's first code span."""
    rows = []
    for line in TEXT.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        first = re.match(r"`([^`]+)`", cells[0])
        second = re.match(r"`([^`]+)`", cells[1])
        rows.append((first.group(1), second.group(1) if second else cells[1]))
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def fitted() -> dict[str, object]:
    """A fitted instance of every fitter and model, for names that exist only after fit."""
    weekly = cp.datasets.load_cdnow_summary()
    donations = cp.datasets.load_donations()
    repeat = weekly[weekly["frequency"] > 0]
    columns = (weekly["frequency"], weekly["recency"], weekly["T"])
    out: dict[str, object] = {
        "BetaGeoFitter": lt.BetaGeoFitter().fit(*columns),
        "ParetoNBDFitter": lt.ParetoNBDFitter().fit(*columns),
        "ModifiedBetaGeoFitter": lt.ModifiedBetaGeoFitter().fit(*columns),
        "BetaGeoBetaBinomFitter": lt.BetaGeoBetaBinomFitter().fit(
            donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
        ),
        "GammaGammaFitter": lt.GammaGammaFitter().fit(
            repeat["frequency"], repeat["monetary_value"]
        ),
    }
    for model in (cp.BetaGeoModel, cp.ParetoNBDModel, cp.ModifiedBetaGeoModel):
        out[model.__name__] = model().fit(weekly)
    out["BetaGeoBetaBinomModel"] = cp.BetaGeoBetaBinomModel().fit(donations, weights="weights")
    out["GammaGammaModel"] = cp.GammaGammaModel().fit(weekly)
    return out


def _resolves(root: object, dotted: str, fitted: dict[str, object]) -> bool:
    head, *rest = dotted.split(".")
    if not hasattr(root, head):
        return False
    obj = getattr(root, head)
    if rest and head in fitted:
        obj = fitted[head]  # attributes such as params_ exist on a fitted instance
    for part in rest:
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def test_the_tables_list_every_public_lifetimes_name():
    assert len(ROWS) > 50
    listed = {name for name, _ in ROWS}
    for module in ("utils", "plotting", "datasets", "generate_data"):
        for name in getattr(lt, module).__all__:
            assert f"{module}.{name}" in listed, f"{module}.{name}"
    for fitter in ("BetaGeoFitter", "ParetoNBDFitter", "ModifiedBetaGeoFitter"):
        assert fitter in listed
    assert {"BetaGeoBetaBinomFitter", "GammaGammaFitter"} <= listed


@pytest.mark.parametrize(("lifetimes_name", "native_name"), ROWS, ids=[r[0] for r in ROWS])
def test_every_name_in_the_tables_exists(lifetimes_name, native_name, fitted):
    assert _resolves(lt, lifetimes_name, fitted), lifetimes_name
    if native_name != "—":
        assert _resolves(cp, native_name, fitted), native_name


def test_every_hinted_name_is_on_the_page():
    for name in _lifetimes_habits.FITTER_NAMES:
        assert f"Fitter.{name}`" in TEXT, name
    for name in _lifetimes_habits.PLOTTING_NAMES:
        assert f"`plotting.{name}`" in TEXT, name


# ------------------------------------------------------------------------------------------
# The numbers the page quotes
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weekly_fits():
    summary = oracle.datasets.load_cdnow_summary_data_with_monetary_value()
    repeat = summary[summary["frequency"] > 0]
    bgf = oracle.BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    ggf = oracle.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    native = cp.datasets.load_cdnow_summary()
    return (
        summary,
        bgf,
        ggf,
        native,
        cp.BetaGeoModel().fit(native),
        cp.GammaGammaModel().fit(native),
    )


def _quoted(number: float, decimals: int = 2) -> str:
    return f"{number:,.{decimals}f}"


def test_units_discount_rate_and_month_length(weekly_fits):
    summary, bgf, ggf, native, bg, gg = weekly_fits
    columns = (summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"])
    weeks = ggf.customer_lifetime_value(bgf, *columns, time=12, discount_rate=0.01, freq="W")
    default = ggf.customer_lifetime_value(bgf, *columns, time=12, discount_rate=0.01)
    assert _quoted(weeks.sum()) == "71,509.90"
    assert _quoted(default.sum()) == "266,621.60"
    for total in (weeks.sum(), default.sum()):
        assert _quoted(total) in TEXT
    monthly = cp.predictive_clv(
        bg, gg, native, horizon_months=12, annual_discount_rate=1.01**12 - 1
    )
    as_annual = cp.predictive_clv(bg, gg, native, horizon_months=12, annual_discount_rate=0.01)
    assert _quoted(monthly.sum()) == "71,550.98" and _quoted(monthly.sum()) in TEXT
    assert _quoted(as_annual.sum()) == "75,538.46" and _quoted(as_annual.sum()) in TEXT
    assert monthly.sum() / weeks.sum() - 1 == pytest.approx(0.0006, abs=0.00005)
    # A summary in days is read in days by a model fitted in weeks; one without a unit is refused.
    days = native.copy()
    days[["recency", "T"]] *= 7.0
    days.attrs["time_unit"] = "D"
    np.testing.assert_allclose(
        bg.expected_purchases(10, days), bg.expected_purchases(10, native), rtol=1e-12
    )
    unstated = native.copy()
    unstated.attrs = {}
    with pytest.raises(cp.ClvDataError, match="do not record their time unit"):
        bg.expected_purchases(10, unstated)


def test_day_merging_and_one_time_buyers(weekly_fits):
    tx = cp.datasets.load_cdnow()
    assert len(tx) == 6919 and tx["customer_id"].nunique() == 2357
    args = (tx, "customer_id", "date")
    theirs_days = oracle.utils.summary_data_from_transaction_data(*args, freq="D")
    theirs_weeks = oracle.utils.summary_data_from_transaction_data(
        *args, monetary_value_col="amount", freq="W"
    )
    ours_weeks = cp.rfm_summary(*args, monetary_value_col="amount", time_unit="W")
    assert theirs_days["frequency"].sum() == ours_weeks["frequency"].sum() == 4339
    assert theirs_weeks["frequency"].sum() == 4004
    assert (theirs_weeks["frequency"] == 0).sum() == 1231
    assert (ours_weeks["frequency"] == 0).sum() == 1218
    assert round(theirs_weeks["T"].mean(), 2) == 71.99
    assert round(ours_weeks["T"].mean(), 2) == 71.72
    assert (theirs_weeks.loc[theirs_weeks["frequency"] == 0, "monetary_value"] == 0).all()
    assert ours_weeks.loc[ours_weeks["frequency"] == 0, "monetary_value"].isna().all()
    summary, _, ggf, native, _, gg = weekly_fits
    one_time = summary["frequency"] == 0
    theirs = ggf.conditional_expected_average_profit(
        summary["frequency"], summary["monetary_value"]
    )
    ours = gg.expected_average_value(native)
    assert round(gg.population_mean(), 2) == 35.17
    np.testing.assert_allclose(theirs[one_time], gg.population_mean(), rtol=1e-6)
    np.testing.assert_allclose(ours[one_time.to_numpy()], gg.population_mean(), rtol=1e-12)


def test_pareto_nbd_nothing_happens_in_no_time(weekly_fits):
    summary = weekly_fits[0]
    theirs = oracle.ParetoNBDFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    ours = cp.ParetoNBDModel().fit(weekly_fits[3])
    history = {"frequency": [2], "recency": [30.0], "T": [39.0]}
    assert theirs.conditional_probability_of_n_purchases_up_to_time(0, 0.0, 2, 30.0, 39.0) == 0
    assert ours.conditional_probability_of_purchases(0, 0.0, **history).iloc[0] == 1.0
    five_theirs = theirs.conditional_probability_of_n_purchases_up_to_time(0, 5.0, 2, 30.0, 39.0)
    five_ours = ours.conditional_probability_of_purchases(0, 5.0, **history).iloc[0]
    # lifetimes' optimiser stops within about 1e-5 of the maximum: the fourth decimal is theirs.
    assert round(five_theirs, 4) == round(five_ours, 4) == 0.8183
    assert abs(five_theirs - five_ours) < 1e-5


def test_bgbb_whole_periods():
    theirs_data = oracle.datasets.load_donations()
    theirs = oracle.BetaGeoBetaBinomFitter().fit(
        theirs_data["frequency"],
        theirs_data["recency"],
        theirs_data["periods"],
        weights=theirs_data["weights"],
    )
    donations = cp.datasets.load_donations()
    ours = cp.BetaGeoBetaBinomModel().fit(donations, weights="weights")
    assert ours.params_.round(4).tolist() == [1.2035, 0.7497, 0.6567, 2.7834]
    np.testing.assert_allclose(ours.params_, theirs.params_[ours.params_.index], rtol=1e-4)
    columns = (theirs_data["frequency"], theirs_data["recency"], theirs_data["periods"])
    np.testing.assert_allclose(
        ours.probability_alive_at(1, donations),
        theirs.conditional_probability_alive(1, *columns),
        rtol=1e-6,
    )
    best = donations.index[-1]
    assert donations.loc[best, ["frequency", "recency", "periods"]].tolist() == [6, 6, 6]
    at = {
        horizon: (
            float(
                np.asarray(
                    theirs.conditional_expected_number_of_purchases_up_to_time(horizon, *columns)
                )[-1]
            ),
            float(ours.expected_purchases(horizon, donations).iloc[-1]),
        )
        for horizon in (2, 2.5)
    }
    assert round(at[2][0], 4) == round(at[2][1], 4) == 1.6324
    assert round(at[2.5][0], 4) == 2.0099
    assert round(at[2.5][1], 4) == 1.6324


def test_the_same_penalizer_is_another_penalty(weekly_fits):
    summary, _, _, native, _, _ = weekly_fits
    theirs = oracle.BetaGeoFitter(penalizer_coef=0.1).fit(
        summary["frequency"], summary["recency"], summary["T"]
    )
    ours = cp.BetaGeoModel(penalizer_coef=0.1).fit(native)
    assert f"{native['T'].max():.2f}" == "38.86"
    assert f"`alpha` {ours.params_['alpha']:.3f}" == "`alpha` 0.571"
    assert f"gives {theirs.params_['alpha']:.3f}" == "gives 4.219"
    for quoted in ("38.86", "`alpha` 0.571", "gives 4.219"):
        assert quoted in " ".join(TEXT.split()), quoted
