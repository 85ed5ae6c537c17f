"""Diagnostic plots: the numbers drawn equal the evaluation tables, and every plot renders.

Each plot is saved to ``tmp_path`` and also to ``/tmp/clv_plots`` for a visual check.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import clvpredict as cp
from clvpredict import ClvDataError
from clvpredict._units import months_to_units
from clvpredict.evaluation import (
    evaluate_holdout,
    expected_repeat_transactions_over_time,
    frequency_recency_matrix,
    mean_spend_density,
    period_transactions,
    probability_alive_history,
    value_concentration,
)
from clvpredict.plotting import (
    plot_calibration_vs_holdout,
    plot_clv_comparison,
    plot_cumulative_transactions,
    plot_expected_purchases_heatmap,
    plot_incremental_transactions,
    plot_period_transactions,
    plot_probability_alive_heatmap,
    plot_probability_alive_history,
    plot_spend_distribution,
    plot_value_concentration,
)

CAL_END = "1997-09-30"
OBS_END = "1998-06-30"
REVIEW_DIR = Path("/tmp/clv_plots")


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    return cp.datasets.load_cdnow("sample")


@pytest.fixture(scope="module")
def ch(tx) -> pd.DataFrame:
    return cp.calibration_holdout_summary(
        tx,
        "customer_id",
        "date",
        calibration_end=CAL_END,
        observation_end=OBS_END,
        monetary_value_col="amount",
        time_unit="W",
    )


@pytest.fixture(scope="module")
def bg(ch) -> cp.BetaGeoModel:
    return cp.BetaGeoModel().fit(ch)


@pytest.fixture(scope="module")
def gg(ch) -> cp.GammaGammaModel:
    return cp.GammaGammaModel().fit(ch)


@pytest.fixture(scope="module")
def evaluation(bg, gg, ch):
    return evaluate_holdout(bg, ch, gg)


@pytest.fixture(scope="module")
def tracking(bg, tx):
    return expected_repeat_transactions_over_time(bg, tx, "customer_id", "date", CAL_END, OBS_END)


@pytest.fixture(scope="module")
def clv(bg, gg, ch):
    return cp.clv_table(bg, gg, ch, lifetime_years=2.0, horizon_months=12)


def render(ax, name: str, tmp_path: Path) -> None:
    """Check the common furniture and save the figure to tmp_path and the review folder."""
    assert ax.get_title(), f"{name}: no title"
    assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: missing axis label"
    assert ax.get_legend() is not None, f"{name}: no legend"
    ax.figure.savefig(tmp_path / f"{name}.png", dpi=80)
    assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    try:
        REVIEW_DIR.mkdir(exist_ok=True)
        ax.figure.savefig(REVIEW_DIR / f"{name}.png", dpi=100)
    except OSError:  # pragma: no cover - review copies are a convenience only
        pass


@pytest.fixture(autouse=True)
def fresh_pyplot():
    """Each test starts with no pyplot figure: plots without ax= draw on the current axes."""
    plt.close("all")
    yield
    plt.close("all")


def test_a_plot_without_ax_draws_on_the_current_pyplot_axes(bg, ch):
    # As pandas and seaborn do: a new figure when there is none, then the current axes, so
    # that Jupyter (and plt.show()) shows it.
    ax = plot_period_transactions(bg, ch)
    assert plt.get_fignums() == [ax.figure.number] and plt.gca() is ax
    _, (left, right) = plt.subplots(1, 2)
    assert plot_probability_alive_heatmap(bg, ch) is right  # subplots left the last current
    assert plot_period_transactions(bg, ch, ax=left) is left
    # Inside standalone_figures (the report), pyplot is left alone.
    figures = plt.get_fignums()
    with cp.plotting.standalone_figures():
        alone = plot_period_transactions(bg, ch)
    assert plt.get_fignums() == figures and alone.figure.canvas.manager is None
    assert plot_period_transactions(bg, ch) is right  # back to pyplot after the block


@pytest.mark.parametrize("by", ["frequency", "recency"])
def test_calibration_plot_points_are_the_evaluation_table(evaluation, by, tmp_path):
    ax = plot_calibration_vs_holdout(evaluation, by=by)
    table = evaluation.by_frequency if by == "frequency" else evaluation.by_recency
    actual, predicted = ax.lines[0], ax.lines[1]
    np.testing.assert_array_equal(actual.get_ydata(), table["mean_actual"].to_numpy())
    np.testing.assert_array_equal(predicted.get_ydata(), table["mean_predicted"].to_numpy())
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == len(table)
    assert ticks[0].endswith(f"n={table['n_customers'].iloc[0]:,}")
    # Error bars: mean +- 1.96 standard errors of the bin's mean, se = sd / sqrt(n), one per bin
    # (every bin of the sample has customers).
    mean, sd, n = (
        table[c].to_numpy(dtype=float) for c in ("mean_actual", "sd_actual", "n_customers")
    )
    assert (n > 1).all()
    segments = np.array(ax.collections[0].get_segments())
    np.testing.assert_array_equal(segments[:, 0, 0], np.arange(len(table)))
    np.testing.assert_array_equal(segments[:, 1, 0], np.arange(len(table)))
    np.testing.assert_allclose(segments[:, 0, 1], mean - 1.96 * sd / np.sqrt(n), rtol=1e-12)
    np.testing.assert_allclose(segments[:, 1, 1], mean + 1.96 * sd / np.sqrt(n), rtol=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "95% interval of the actual mean (± 1.96 standard errors)" in labels
    assert "weeks" in ax.get_ylabel()
    render(ax, f"calibration_vs_holdout_{by}", tmp_path)


def test_calibration_plot_rejects_other_input(ch):
    with pytest.raises(ClvDataError, match="evaluate_holdout"):
        plot_calibration_vs_holdout(ch)


@pytest.mark.parametrize("cumulative", [True, False])
def test_tracking_lines_are_the_tracking_table(tracking, cumulative, tmp_path):
    plot = plot_cumulative_transactions if cumulative else plot_incremental_transactions
    ax = plot(tracking)
    suffix = "_cumulative" if cumulative else ""
    actual, expected, cal_line = ax.lines[0], ax.lines[1], ax.lines[2]
    np.testing.assert_array_equal(actual.get_ydata(), tracking["actual" + suffix].to_numpy())
    np.testing.assert_allclose(expected.get_ydata(), tracking["expected" + suffix].to_numpy())
    np.testing.assert_array_equal(
        pd.DatetimeIndex(actual.get_xdata()), tracking.index.as_unit("ns")
    )
    cal_x = matplotlib.dates.num2date(matplotlib.dates.date2num(cal_line.get_xdata()[0]))
    assert pd.Timestamp(cal_x).tz_localize(None) == pd.Timestamp(CAL_END)
    assert "week" in ax.get_xlabel()
    render(ax, "tracking_cumulative" if cumulative else "tracking_incremental", tmp_path)


def test_period_transactions_bars(bg, ch, tmp_path):
    ax = plot_period_transactions(bg, ch, max_frequency=7)
    table = period_transactions(bg, ch, max_frequency=7)
    actual = np.array([bar.get_height() for bar in ax.containers[0]])
    model = np.array([bar.get_height() for bar in ax.containers[1]])
    np.testing.assert_array_equal(actual, table["actual"].to_numpy())
    np.testing.assert_allclose(model, table["expected"].to_numpy())
    assert model.sum() == pytest.approx(len(ch), rel=1e-12)
    assert actual.sum() == len(ch)
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "7+"
    render(ax, "period_transactions", tmp_path)


def _ninety_ninth_percentile(frequency) -> int:
    """The smallest frequency with at least 99% of the customers at or below it, by counting."""
    values = np.sort(np.asarray(frequency))
    return int(values[int(np.ceil(0.99 * len(values))) - 1])


@pytest.mark.parametrize("quantity", ["expected_purchases", "probability_alive"])
def test_heatmaps_show_the_frequency_recency_matrix(bg, ch, quantity, tmp_path):
    # Frequencies to the 99th percentile of the customers, not to the one with the most.
    top = _ninety_ninth_percentile(ch["frequency"])
    assert top < ch["frequency"].max()
    if quantity == "expected_purchases":
        ax = plot_expected_purchases_heatmap(bg, 52, ch)
        grid = frequency_recency_matrix(bg, ch["T"].max(), top, quantity=quantity, t=52)
    else:
        ax = plot_probability_alive_heatmap(bg, ch)
        grid = frequency_recency_matrix(bg, ch["T"].max(), top, quantity=quantity)
    mesh = ax.collections[0]
    drawn = np.ma.getdata(mesh.get_array()).reshape(grid.shape)
    mask = np.ma.getmaskarray(mesh.get_array()).reshape(grid.shape)
    np.testing.assert_array_equal(mask, np.isnan(grid.to_numpy()))
    np.testing.assert_allclose(drawn[~mask], grid.to_numpy()[~mask])
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert colorbar_axes and colorbar_axes[0].get_ylabel()
    # Where the customers are: dashed lines above the frequencies that half and 90% of them
    # do not exceed (counted here).
    frequency = np.sort(ch["frequency"].to_numpy())
    half, most = (int(frequency[int(np.ceil(q * len(frequency))) - 1]) for q in (0.5, 0.9))
    marks = [f for f in dict.fromkeys((half, most)) if f < top]
    assert [line.get_ydata()[0] - 0.5 for line in ax.lines] == marks
    texts = [t.get_text() for t in ax.texts]
    assert f"at least 90% of customers: frequency <= {most}" in texts
    # Half is a quantile; the share at frequency 0 itself is counted and said as it is.
    assert half == 0
    assert f"{np.mean(frequency == 0):.0%} of customers: frequency 0" in texts
    # Frequencies are counts: whole-number ticks only.
    ticks = ax.get_yticks()
    assert len(ticks) > 1
    np.testing.assert_array_equal(ticks, np.round(ticks))
    render(ax, f"heatmap_{quantity}", tmp_path)


def test_heatmaps_default_to_the_fitted_data_and_say_horizons_in_words(bg, ch):
    # No data: T and the frequencies of the customers the model was fitted on (the weekly
    # calibration summary), and one week ahead.
    ax = plot_expected_purchases_heatmap(bg)
    top = _ninety_ninth_percentile(ch["frequency"])
    grid = frequency_recency_matrix(bg, ch["T"].max(), top, quantity="expected_purchases", t=1)
    drawn = np.ma.getdata(ax.collections[0].get_array()).reshape(grid.shape)
    mask = ~np.isnan(grid.to_numpy())
    np.testing.assert_allclose(drawn[mask], grid.to_numpy()[mask])
    title = ax.get_title()
    assert "expected purchases in the next week\n" in title
    assert "T = 38.9 weeks" in title  # 1997-01-01 to 1997-09-30: 272 days
    ax = plot_expected_purchases_heatmap(bg, months_to_units(12, "W"))
    assert "in the next 12 months" in ax.get_title()
    alive = plot_probability_alive_heatmap(bg)
    assert alive.collections[0].get_array().size == (top + 1) * len(grid.columns)
    # The share of one-time buyers comes from what the model recorded of its data.
    none_repeat = np.mean(ch["frequency"] == 0)
    assert f"{none_repeat:.0%} of customers: frequency 0" in [t.get_text() for t in alive.texts]


def test_heatmap_needs_ranges_without_data(bg):
    given = cp.BetaGeoModel.from_params(bg.params_, time_unit="W")
    with pytest.raises(ClvDataError, match="data="):
        plot_probability_alive_heatmap(given)
    ax = plot_probability_alive_heatmap(given, T=30.0, max_frequency=4)
    assert ax.collections[0].get_array().size == 5 * 60


def test_probability_alive_history_plot(bg, tx, tmp_path):
    ax = plot_probability_alive_history(bg, tx, "customer_id", "date", 1, calibration_end=CAL_END)
    history = probability_alive_history(bg, tx, "customer_id", "date", 1)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), history["p_alive"].to_numpy())
    markers = ax.lines[1]
    assert len(markers.get_ydata()) == history["purchase"].sum() == 4
    np.testing.assert_array_equal(
        markers.get_ydata(), history.loc[history["purchase"], "p_alive"].to_numpy()
    )
    # An ID, not a year, on a date axis.
    assert ax.get_title() == "P(alive) over time of customer ID 1 (BG/NBD)"
    render(ax, "probability_alive_history", tmp_path)


def test_probability_alive_history_by_days_since_the_first_purchase(bg, ch, tx):
    # Customer 1 first bought on 1997-01-01: 100 days run to 1997-04-10.
    ax = plot_probability_alive_history(bg, tx, "customer_id", "date", 1, days=100)
    dates = pd.to_datetime(ax.lines[0].get_xdata())
    assert len(dates) == 100
    assert dates[0] == pd.Timestamp("1997-01-01") and dates[-1] == pd.Timestamp("1997-04-10")
    history = probability_alive_history(bg, tx, "customer_id", "date", 1, end="1997-04-10")
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), history["p_alive"].to_numpy())
    # The BG/NBD's step at the first repeat purchase is explained on the plot, at that point.
    repeat = history.index[history["purchase"]][1]
    notes = [t for t in ax.texts if "until the first repeat purchase" in t.get_text()]
    assert len(notes) == 1
    assert pd.Timestamp(notes[0].xy[0]) == repeat
    assert notes[0].xy[1] == history.loc[repeat, "p_alive"] < 1.0
    # The MBG/NBD has no such step, and no such note.
    mbg = cp.ModifiedBetaGeoModel().fit(ch)
    plt.figure()  # a figure of its own: the first plot's note is on the current one
    other = plot_probability_alive_history(mbg, tx, "customer_id", "date", 1, days=100)
    assert not [t for t in other.texts if "repeat purchase" in t.get_text()]
    with pytest.raises(ClvDataError, match="not both"):
        plot_probability_alive_history(bg, tx, "customer_id", "date", 1, days=5, end="1997-02-01")
    with pytest.raises(ClvDataError, match="whole number of days"):
        plot_probability_alive_history(bg, tx, "customer_id", "date", 1, days=0)


def test_clv_comparison_puts_simple_clv_on_the_same_horizon(clv, tmp_path):
    # The simple CLV over a lifetime of 1.03 years, drawn over the predictive CLV's 12 months.
    ax = plot_clv_comparison(clv, lifetime_years=1.03)
    offsets = np.asarray(ax.collections[0].get_offsets())
    simple = clv["simple_clv"].to_numpy()
    predictive = clv["predictive_clv"].to_numpy()
    for row in (0, 1, 7, 100):
        assert simple[row] > 1 and predictive[row] > 1  # drawn to scale
        assert offsets[row, 0] == pytest.approx(simple[row] * 1 / 1.03, rel=1e-12)
        assert offsets[row, 1] == predictive[row]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), line.get_ydata())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "y = x: the same value over the 12 months by both methods" in labels
    assert "Simple-formula CLV over the same 12 months" in ax.get_xlabel()
    assert "1.03-year lifetime × 1 / 1.03" in ax.get_xlabel()
    assert "next 12 months" in ax.get_ylabel()
    # The rank correlation of all customers, by hand: Pearson's of the ranks, ties (customers
    # of the same history) sharing their mean rank.
    ranks = [pd.Series(v).rank(method="average").to_numpy() for v in (simple, predictive)]
    rho = np.corrcoef(*ranks)[0, 1]
    title = ax.get_legend().get_title().get_text()
    assert title.startswith(f"Spearman rank correlation {rho:.2f}\n(all customers")
    # Money ticks: powers of 10 written as plain amounts.
    ax.figure.canvas.draw()
    ticks = {t.get_text() for t in ax.get_xticklabels() if t.get_text()}
    assert {"1", "10", "100"} <= ticks
    render(ax, "clv_comparison", tmp_path)
    # Without a lifetime (a table given a lifetime per customer records none) the simple CLV
    # is drawn as it is, and the labels say so.
    unknown = clv.copy()
    del unknown.attrs["lifetime_years"]
    plt.figure()
    plain = plot_clv_comparison(unknown)
    drawn = np.asarray(plain.collections[0].get_offsets())[:, 0]
    zero = simple == 0
    np.testing.assert_array_equal(drawn[~zero], simple[~zero])
    # Eight customers with only purchases of 0 in the strip (the largest CLV of 23,349 puts
    # the floor at 1, the strip's middle at 10 ** -0.5).
    assert zero.sum() == 8 and np.all(drawn[zero] == 10**-0.5)
    labels = [t.get_text() for t in plain.get_legend().get_texts()]
    assert "y = x: equal amounts (over different horizons)" in labels
    assert "lifetime_years" in plain.get_xlabel()
    # clv_table records its one lifetime, and the plot puts the table on the horizon by itself.
    assert clv.attrs["lifetime_years"] == 2.0
    plt.figure()
    halved = np.asarray(plot_clv_comparison(clv).collections[0].get_offsets())[:, 0]
    np.testing.assert_allclose(halved[~zero], simple[~zero] / 2.0, rtol=1e-12)
    for bad in (0, -1.0, np.nan, [1.0, 2.0]):
        with pytest.raises(ClvDataError, match="lifetime_years"):
            plot_clv_comparison(clv, lifetime_years=bad)


def test_clv_comparison_counts_the_customers_under_the_floor(tmp_path):
    table = pd.DataFrame(
        {
            "simple_clv": [0.0, 0.0, 24.0, 240.0, 2_400.0, 36.0, 0.0, np.nan],
            "predictive_clv": [5.0, 0.0, 0.0, 1e-9, 800.0, 30.0, 50.0, 1.0],
        }
    )
    table.attrs.update(horizon_months=6, currency="EUR")
    ax = plot_clv_comparison(table, lifetime_years=2.0)
    # Over 6 months of a 2-year lifetime: a quarter of the simple CLV.
    x = table["simple_clv"].to_numpy()[:-1] / 4
    y = table["predictive_clv"].to_numpy()[:-1]
    # Largest 800 (decade 100): the floor is four decades under, 0.01; the strip's middle is
    # half a decade under the floor.
    middle = 0.01 / 10**0.5
    offsets = np.asarray(ax.collections[0].get_offsets())
    np.testing.assert_allclose(offsets[:, 0], np.where(x < 0.01, middle, x), rtol=1e-12)
    np.testing.assert_allclose(offsets[:, 1], np.where(y < 0.01, middle, y), rtol=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "customers (n = 7)"  # the one without a finite CLV is left out
    assert labels[2] == (
        "grey strips, not to scale:\nsimple CLV of 0: 3\npredictive CLV < 0.01: 3 (2 of them 0)"
    )
    ax.figure.canvas.draw()
    assert ax.get_xticklabels()[0].get_text() == "0"
    assert ax.get_yticklabels()[0].get_text() == "< 0.01"
    assert "(EUR; log scale)" in ax.get_xlabel() and "6 months" in ax.get_ylabel()
    render(ax, "clv_comparison_zeros", tmp_path)
    # A floor of one's own.
    plt.figure()
    high = plot_clv_comparison(table, lifetime_years=2.0, floor=10)
    labels = [t.get_text() for t in high.get_legend().get_texts()]
    assert labels[2].endswith(
        "simple CLV < 10: 5 (3 of them 0)\npredictive CLV < 10: 4 (2 of them 0)"
    )
    with pytest.raises(ClvDataError, match="floor"):
        plot_clv_comparison(table, floor=0)


def test_value_concentration_curve(clv, tmp_path):
    ax = plot_value_concentration(clv)
    curve = value_concentration(clv["predictive_clv"])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), 100 * curve["share_of_customers"])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 100 * curve["share_of_value"])
    assert any("top 20%" in t.get_text() for t in ax.texts)
    render(ax, "value_concentration", tmp_path)


def _many_customers(n: int, seed: int = 7) -> pd.DataFrame:
    """A CLV-like table of ``n`` customers whose (simple, predictive) pairs are all distinct,
    every CLV drawn to scale (above the plot's floor)."""
    rng = np.random.default_rng(seed)
    simple = (rng.permutation(n) + 1.0) * 0.5
    predictive = 1.0 + rng.gamma(0.6, 80.0, n)
    table = pd.DataFrame({"simple_clv": simple, "predictive_clv": predictive})
    table.attrs["horizon_months"] = 12
    return table


def test_clv_comparison_draws_a_seeded_sample_of_large_tables(tmp_path):
    # Each call draws a figure of its own, so that the calls can be compared.
    with cp.plotting.standalone_figures():
        n = 12_000
        table = _many_customers(n)
        table.loc[table.index[[5, 50]], "predictive_clv"] = np.nan  # left out before sampling
        ax = plot_clv_comparison(table, max_points=3_000, random_state=42)
        drawn = np.asarray(ax.collections[0].get_offsets())
        assert drawn.shape == (3_000, 2)
        # A subset of the customers, each at most once, in the table's order.
        finite = table.dropna()
        row_of = pd.Series(np.arange(len(finite)), index=finite["simple_clv"].to_numpy())
        rows = row_of.loc[drawn[:, 0]].to_numpy()
        assert len(np.unique(rows)) == 3_000 and np.all(np.diff(rows) > 0)
        np.testing.assert_array_equal(drawn[:, 1], finite["predictive_clv"].to_numpy()[rows])
        label = ax.get_legend().get_texts()[0].get_text()
        assert label == "a random 3,000 of 11,998 customers"
        # The frame holds every customer, drawn or not: the largest CLVs set the limits.
        top = max(finite["simple_clv"].max(), finite["predictive_clv"].max())
        assert ax.get_xlim()[1] == pytest.approx(top * 10**0.15)
        assert ax.get_ylim()[1] == pytest.approx(top * 10**0.15)
        # The same seed draws the same customers; another seed others.
        again = np.asarray(
            plot_clv_comparison(table, max_points=3_000, random_state=42)
            .collections[0]
            .get_offsets()
        )
        np.testing.assert_array_equal(again, drawn)
        other = np.asarray(
            plot_clv_comparison(table, max_points=3_000, random_state=1)
            .collections[0]
            .get_offsets()
        )
        assert not np.array_equal(other, drawn)
        render(ax, "clv_comparison_sample", tmp_path)


def test_clv_comparison_draws_all_up_to_the_cap():
    # Each call draws a figure of its own, so that the calls can be compared.
    with cp.plotting.standalone_figures():
        from clvpredict.plotting import MAX_POINTS

        table = _many_customers(MAX_POINTS + 1)
        assert len(plot_clv_comparison(table).collections[0].get_offsets()) == MAX_POINTS
        everyone = plot_clv_comparison(table, max_points=None).collections[0].get_offsets()
        np.testing.assert_array_equal(np.asarray(everyone)[:, 0], table["simple_clv"].to_numpy())
        exactly = plot_clv_comparison(table, max_points=MAX_POINTS + 1)
        assert len(exactly.collections[0].get_offsets()) == MAX_POINTS + 1
        label = exactly.get_legend().get_texts()[0].get_text()
        assert label == f"customers (n = {MAX_POINTS + 1:,})"
        for bad in (0, -3, 2.5, True, "10"):
            with pytest.raises(ClvDataError, match="max_points"):
                plot_clv_comparison(table, max_points=bad)


def test_value_concentration_of_many_customers_is_read_at_even_shares(tmp_path):
    # Each call draws a figure of its own, so that the calls can be compared.
    with cp.plotting.standalone_figures():
        n = 25_000
        values = np.random.default_rng(3).pareto(1.5, n)
        ax = plot_value_concentration(values, max_points=10_000)
        x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
        assert len(x) == len(y) == 10_001
        np.testing.assert_allclose(x, np.linspace(0, 100, 10_001))
        # By hand: at a share j / 10,000 that falls on a whole customer k = 2.5 j, the curve is the
        # top k customers' share of the total.
        top_first = np.sort(values)[::-1]
        held = np.concatenate([[0.0], np.cumsum(top_first)]) / top_first.sum()
        j = np.arange(0, 10_001, 2)
        np.testing.assert_allclose(y[j], 100 * held[(j * 5) // 2], rtol=1e-12, atol=1e-12)
        # Between whole customers, the straight line between them.
        k = np.arange(1, 10_001, 2)
        np.testing.assert_allclose(
            y[k], 100 * (held[(k * 5) // 2] + held[(k * 5) // 2 + 1]) / 2, rtol=1e-12
        )
        # The marks are read off the exact curve: the top 10% are 2,500 customers.
        assert any(f"top 10% hold {100 * held[2_500]:.0f}%" in t.get_text() for t in ax.texts)
        assert ax.get_legend().get_texts()[0].get_text() == "predictive CLV (n = 25,000)"
        render(ax, "value_concentration_many", tmp_path)
        # Up to the cap, or with max_points=None, a point per customer.
        everyone = plot_value_concentration(values, max_points=None).lines[0]
        assert len(everyone.get_xdata()) == n + 1
        assert len(plot_value_concentration(values[:9_999]).lines[0].get_xdata()) == 10_000


def test_spend_distribution(gg, ch, tmp_path):
    ax = plot_spend_distribution(gg, ch, bins=30)
    line = ax.lines[0]
    expected = mean_spend_density(gg, ch, line.get_xdata()).to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)
    zbar = ch.loc[ch["frequency"] > 0, "monetary_value"].to_numpy()
    bars = ax.containers[0]
    widths = np.array([b.get_width() for b in bars])
    heights = np.array([b.get_height() for b in bars])
    # Normalised by all repeat buyers: the bars hold the share of buyers below the 99th percentile.
    assert (heights * widths).sum() == pytest.approx(
        np.mean(zbar <= np.quantile(zbar, 0.99)), abs=2e-3
    )
    render(ax, "spend_distribution", tmp_path)


def test_calibration_plot_has_no_bar_for_a_bin_of_one_customer(bg, ch, tmp_path):
    top = np.sort(ch["recency"].to_numpy())[-2:]
    assert top[0] < top[1]  # the customer with the longest recency is alone in the last bin
    evaluation = evaluate_holdout(bg, ch, recency_bins=[0, 10, 20, top[0], top[1]])
    table = evaluation.by_recency
    assert table["n_customers"].iloc[-1] == 1 and (table["n_customers"].iloc[:-1] > 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN warnings
        ax = plot_calibration_vs_holdout(evaluation, by="recency")
        ax.figure.canvas.draw()
    segments = np.array(ax.collections[0].get_segments())
    np.testing.assert_array_equal(segments[:, 0, 0], np.arange(len(table) - 1))
    n = table["n_customers"].to_numpy(dtype=float)[:-1]
    half = 1.96 * table["sd_actual"].to_numpy()[:-1] / np.sqrt(n)
    np.testing.assert_allclose(segments[:, 1, 1] - segments[:, 0, 1], 2 * half, rtol=1e-12)
    # The lone customer's mean is drawn, without a bar, and the legend says why.
    assert ax.lines[0].get_ydata()[-1] == table["mean_actual"].iloc[-1]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.endswith("no bar for 1 bin of one customer") for label in labels)
    render(ax, "calibration_vs_holdout_lone_bin", tmp_path)


def test_plots_draw_on_a_given_axes(evaluation, tracking):
    fig, axes = plt.subplots(1, 2)
    try:
        assert plot_calibration_vs_holdout(evaluation, ax=axes[0]) is axes[0]
        assert plot_cumulative_transactions(tracking, ax=axes[1]) is axes[1]
    finally:
        plt.close(fig)


@pytest.mark.parametrize("engine", ["polars", "polars-lazy", "pyarrow", "duckdb"])
def test_comparison_extent_of_an_engine_table_is_the_pandas_one(engine, clv):
    from engine_frames import on_engine

    from clvpredict.plotting import comparison_extent

    table = clv[["simple_clv", "predictive_clv"]].copy()
    table.iloc[:3, 1] = [0.0, 1e-12, np.nan]  # a zero, one under the floor, one left out
    table.attrs.update(clv.attrs)
    want = comparison_extent(table, lifetime_years=1.03)
    got = comparison_extent(
        on_engine(table.reset_index(), engine), lifetime_years=1.03, horizon_months=12
    )
    # By hand: the simple CLV over 12 months of a 1.03-year lifetime.
    x = table["simple_clv"].to_numpy() / 1.03
    y = table["predictive_clv"].to_numpy()
    keep = np.isfinite(y)
    assert want.n_customers == got.n_customers == len(table) - 1
    assert want.scale == got.scale == pytest.approx(1 / 1.03, rel=1e-15)
    top = max(x[keep].max(), y[keep].max())
    assert want.top == pytest.approx(top, rel=1e-12) and got.top == pytest.approx(top, rel=1e-12)
    assert want.floor == got.floor == 10.0 ** np.floor(np.log10(top)) / 1e4
    below = (int(np.sum(x[keep] < want.floor)), int(np.sum(y[keep] < want.floor)))
    zeros = (int(np.sum(x[keep] == 0)), int(np.sum(y[keep] == 0)))
    assert want.below == got.below == below and want.zeros == got.zeros == zeros
    assert zeros[1] == 1 and below[1] >= 2
    # The rank correlation needs every customer's rank: in this process only.
    assert got.spearman is None
    assert want.spearman == pytest.approx(
        np.corrcoef(pd.Series(x[keep]).rank(), pd.Series(y[keep]).rank())[0, 1], rel=1e-12
    )


def _clv_with_zeros(clv: pd.DataFrame) -> pd.DataFrame:
    """The CLV table with a zero, a value under the floor and a missing value."""
    table = clv[["simple_clv", "predictive_clv"]].copy()
    table.iloc[:3, 1] = [0.0, 1e-9, np.nan]
    table.attrs.update(clv.attrs, currency="USD")
    return table


def test_clv_distribution_counts_are_numpys(clv, tmp_path):
    from clvpredict.plotting import clv_histogram, plot_clv_distribution

    table = _clv_with_zeros(clv)
    values = table["predictive_clv"].dropna().to_numpy()
    histogram = clv_histogram(table, bins=30)
    # Three decades under the largest value's decade, up to the decade above it.
    top = values.max()
    low, high = 10 ** (np.floor(np.log10(top)) - 3), 10 ** np.ceil(np.log10(top))
    np.testing.assert_allclose(histogram.edges, np.geomspace(low, high, 31), rtol=1e-12)
    want, _ = np.histogram(values, bins=histogram.edges)
    np.testing.assert_array_equal(histogram.counts, want)
    assert histogram.n_customers == len(table) - 1 == len(values)
    assert histogram.n_zero == 1
    assert histogram.n_below == np.sum((values > 0) & (values < low)) >= 1
    assert histogram.n_zero + histogram.n_below + want.sum() == len(values)
    assert histogram.median == np.median(values)
    assert histogram.mean == pytest.approx(values.mean(), rel=1e-12)
    assert histogram.horizon_months == 12

    ax = plot_clv_distribution(table, bins=30)
    bars = ax.containers[0]
    np.testing.assert_array_equal([b.get_height() for b in bars], want)
    np.testing.assert_allclose([b.get_x() for b in bars], histogram.edges[:-1], rtol=1e-12)
    assert ax.get_xscale() == "log"
    marks = {line.get_label(): line.get_xdata()[0] for line in ax.lines}
    assert marks[f"median {np.median(values):,.2f} USD"] == np.median(values)
    assert marks[f"mean {values.mean():,.2f} USD"] == pytest.approx(values.mean(), rel=1e-12)
    assert "(USD; log scale)" in ax.get_xlabel() and "next 12 months" in ax.get_xlabel()
    assert ax.get_title() == (
        f"Predictive CLV across {len(values):,} customers\n(not drawn on the log axis: 1 at 0, "
        f"{histogram.n_below} below {low:g})"
    )
    render(ax, "clv_distribution", tmp_path)
    for bad in (0, 2.5, True):
        with pytest.raises(ClvDataError, match="bins"):
            clv_histogram(table, bins=bad)


@pytest.mark.parametrize("engine", ["polars", "polars-lazy", "pyarrow", "duckdb"])
def test_clv_histogram_of_an_engine_table_is_numpys(engine, clv):
    from engine_frames import on_engine

    from clvpredict.plotting import clv_histogram

    table = _clv_with_zeros(clv)
    want = clv_histogram(table)
    got = clv_histogram(on_engine(table.reset_index(), engine))
    values = table["predictive_clv"].dropna().to_numpy()
    np.testing.assert_array_equal(got.edges, want.edges)
    np.testing.assert_array_equal(got.counts, np.histogram(values, bins=want.edges)[0])
    assert (got.n_customers, got.n_zero, got.n_below) == (want.n_customers, 1, want.n_below)
    assert got.median == np.median(values)
    assert got.mean == pytest.approx(values.mean(), rel=1e-12)
    assert got.total == pytest.approx(values.sum(), rel=1e-12)


def test_clv_comparison_of_a_sample_states_all_customers(clv):
    # As the report draws an engine's table: a sample, with the numbers of all customers.
    import polars as pl

    from clvpredict.plotting import comparison_extent

    table = clv[["simple_clv", "predictive_clv"]].copy()
    table.attrs.update(clv.attrs)
    native = pl.from_pandas(table.reset_index())
    extent = comparison_extent(native, lifetime_years=1.03, horizon_months=12)
    sample = table.iloc[::10].copy()
    sample.attrs["horizon_months"] = 12
    ax = plot_clv_comparison(sample, lifetime_years=1.03, extent=extent)
    assert len(ax.collections[0].get_offsets()) == len(sample)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"a random {len(sample):,} of {len(table):,} customers"
    # The frame is all customers'; the rank correlation the sample's, said so.
    assert ax.get_xlim()[1] == pytest.approx(extent.top * 10**0.15)
    x, y = sample["simple_clv"] / 1.03, sample["predictive_clv"]
    rho = np.corrcoef(x.rank(), y.rank())[0, 1]
    assert ax.get_legend().get_title().get_text() == (
        f"Spearman rank correlation {rho:.2f}\n(the {len(sample):,} drawn; 1 = the same ranking)"
    )
    # The extent must be of the plot's lifetime and horizon.
    with pytest.raises(ClvDataError, match="another lifetime or horizon"):
        plot_clv_comparison(sample, lifetime_years=2.0, extent=extent)
    with pytest.raises(ClvDataError, match="another lifetime or horizon"):
        plot_clv_comparison(sample, extent=extent)
