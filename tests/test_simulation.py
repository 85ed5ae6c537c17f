"""Simulation from the models: each simulator against its model's closed forms.

Recovering the parameters from simulated customers, and the coverage of the intervals, are
common tests over every registered model (``tests/models/test_common.py``).

(a) Each simulator against the model's closed forms: Monte Carlo means and frequencies must
    agree within 4 Monte Carlo standard errors (fixed seeds, so the tests are deterministic; 4 SE
    leaves a chance of about 6e-5 per comparison that a correct simulator fails for a new seed).
(b) The transaction-log simulator through :func:`clvpredict.rfm_summary` and back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import clvpredict as cp
from clvpredict import simulation as sim
from clvpredict._registry import all_models
from clvpredict.exceptions import ClvDataError, NotFittedError

#: Published estimates (shared/REFERENCE.md): CDNOW in weeks, donations in periods.
BGNBD = {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262}
MBGNBD = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
PARETO = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668}
BGBB = {"alpha": 1.2035, "beta": 0.7498, "gamma": 0.6568, "delta": 2.7839}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}

#: Test parameters of the purchase models in calendar time, by registry kind.
CALENDAR_PARAMS = {"bgnbd": BGNBD, "mbgnbd": MBGNBD, "paretonbd": PARETO}
#: (model class, parameters) of every registered purchase model in calendar time.
PURCHASE_MODELS = {
    spec.kind: (spec.cls, CALENDAR_PARAMS.get(spec.kind))
    for spec in all_models("purchase", discrete_time=False)
}


def test_every_calendar_time_model_is_simulated_here():
    assert set(CALENDAR_PARAMS) == set(PURCHASE_MODELS)


Z = 4.0  # tolerance in Monte Carlo standard errors


def within(estimate: float, expected: float, se: float, what: str) -> None:
    assert abs(estimate - expected) <= Z * se, (
        f"{what}: simulated {estimate:.6g}, expected {expected:.6g}, "
        f"difference {(estimate - expected) / se:+.2f} standard errors"
    )


def cdnow_like_T(n: int, rng: np.random.Generator) -> np.ndarray:
    """Observation lengths of a cohort acquired over 12 weeks and observed to week 39."""
    return rng.uniform(27.0, 39.0, size=n)


def covers(model, truth: dict[str, float], alpha: float) -> pd.Series:
    """Whether each true parameter lies inside the model's (1 - alpha) Wald interval."""
    table = model.summary(alpha=alpha)
    level = round(100 * (1 - alpha))
    true = pd.Series(truth)[table.index]
    return (table[f"lower_{level}"] < true) & (true < table[f"upper_{level}"])


# ------------------------------------------------------------------------------------------
# (a) Simulators against closed forms
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(PURCHASE_MODELS))
def purchase_sim(request):
    """200,000 customers of one purchase model, observed for 13, 26 or 39 weeks."""
    cls, params = PURCHASE_MODELS[request.param]
    model = cls.from_params(params, time_unit="W")
    rng = np.random.default_rng(20261201)
    lengths = rng.choice([13.0, 26.0, 39.0], size=200_000)
    return request.param, model, model.simulate(lengths, random_state=rng, latent=True)


def test_purchase_counts_match_closed_forms(purchase_sim):
    name, model, data = purchase_sim
    x = data["frequency"].to_numpy()
    expected_mean = model.expected_purchases_new_customer(data["T"].to_numpy()).to_numpy()
    resid = x - expected_mean
    within(resid.mean(), 0.0, resid.std() / np.sqrt(len(x)), f"{name} mean of X(T) - E[X(T)]")

    # The whole distribution of X(T): chi-square over counts 0..7 and 8+, expected counts summed
    # over the three observation lengths.
    counts = np.arange(8)
    expected = np.zeros(9)
    observed = np.zeros(9)
    for length, group in data.groupby("T"):
        pmf = model.probability_of_purchases(counts, length).to_numpy()
        expected += len(group) * np.append(pmf, 1 - pmf.sum())
        observed += np.bincount(np.minimum(group["frequency"], 8), minlength=9)
    share_zero, p_zero = observed[0] / len(x), expected[0] / len(x)
    within(share_zero, p_zero, np.sqrt(p_zero * (1 - p_zero) / len(x)), f"{name} P(X(T) = 0)")
    assert stats.chisquare(observed, expected).pvalue > 1e-4


def test_probability_alive_and_conditional_forecast_are_calibrated(purchase_sim):
    """Averaged over customers, the model's posterior quantities must equal the truth.

    E[P(alive | x, t_x, T)] is the share of customers alive at T, and E[E[Y(t) | x, t_x, T]] is
    E[X(T + t)] - E[X(T)] (law of total expectation). Both involve the joint distribution of
    frequency and recency, which the unconditional checks above do not see.
    """
    name, model, data = purchase_sim
    n = len(data)
    gap = data["alive"].to_numpy() - model.probability_alive(data).to_numpy()
    within(gap.mean(), 0.0, gap.std() / np.sqrt(n), f"{name} alive - P(alive)")

    horizon = 20.0
    big_t = data["T"].to_numpy()
    forecast = model.expected_purchases(horizon, data).to_numpy()
    unconditional = (
        model.expected_purchases_new_customer(big_t + horizon).to_numpy()
        - model.expected_purchases_new_customer(big_t).to_numpy()
    )
    diff = forecast - unconditional
    within(diff.mean(), 0.0, diff.std() / np.sqrt(n), f"{name} E[Y(20) | history]")


def test_pareto_lifetimes_and_recency_inside_window():
    model = cp.ParetoNBDModel.from_params(PARETO, time_unit="W")
    data = model.simulate(39.0, n_customers=50_000, random_state=11, latent=True)
    gone = ~data["alive"]
    # Nobody buys after dropping out.
    assert (data.loc[gone, "recency"] <= data.loc[gone, "lifetime"]).all()
    assert (data["recency"] <= data["T"]).all()
    # Lifetimes are Exponential(mu): P(lifetime > T) = E[exp(-mu T)] = (beta / (beta + T))^s.
    expected = (PARETO["beta"] / (PARETO["beta"] + 39.0)) ** PARETO["s"]
    share = data["alive"].mean()
    within(share, expected, np.sqrt(expected * (1 - expected) / len(data)), "P(lifetime > T)")


def test_mbgnbd_drops_out_at_time_zero():
    """With dropout probabilities near 1, most MBG/NBD customers are gone before any repeat
    purchase, while BG/NBD customers, who cannot drop out before their first repeat purchase,
    nearly all buy again (fast buyers: about 50 expected purchases in T)."""
    params = {"r": 5.0, "alpha": 1.0, "a": 50.0, "b": 0.5}
    mbg = cp.ModifiedBetaGeoModel.from_params(params).simulate(
        10.0, n_customers=20_000, random_state=1
    )
    bg = cp.BetaGeoModel.from_params(params).simulate(10.0, n_customers=20_000, random_state=1)
    p_zero = params["a"] / (params["a"] + params["b"])  # E[p]: the first toss fails
    within(
        (mbg["frequency"] == 0).mean(),
        p_zero,
        np.sqrt(p_zero * (1 - p_zero) / 20_000),
        "MBG/NBD share gone at time 0",
    )
    assert (bg["frequency"] == 0).mean() < 0.01


@pytest.fixture(scope="module")
def bgbb_sim():
    model = cp.BetaGeoBetaBinomModel.from_params(BGBB)
    periods = np.tile(np.arange(1, 7), 40_000)  # 40,000 customers for each n = 1..6
    return model, model.simulate(periods, random_state=20261202, latent=True)


def test_bgbb_matches_closed_forms(bgbb_sim):
    model, data = bgbb_sim
    published = [0.4985, 0.9233, 1.2969, 1.6323, 1.9381, 2.2202]  # E[X(n)], REFERENCE.md
    for n, group in data.groupby("T"):
        x = group["frequency"].to_numpy()
        expected = model.expected_purchases_new_customer(int(n))
        assert expected == pytest.approx(published[n - 1], abs=1e-3)  # rounded parameters
        within(x.mean(), expected, x.std() / np.sqrt(len(x)), f"BG/BB E[X({n})]")
    six = data[data["T"] == 6]
    pmf = model.probability_of_purchases(np.arange(7), 6).to_numpy()
    observed = np.bincount(six["frequency"], minlength=7)
    assert stats.chisquare(observed, len(six) * pmf / pmf.sum()).pvalue > 1e-4
    assert ((six["frequency"] <= six["recency"]) & (six["recency"] <= 6)).all()
    assert (six.loc[six["frequency"] == 0, "recency"] == 0).all()


def test_bgbb_alive_and_forecast_are_calibrated(bgbb_sim):
    model, data = bgbb_sim
    n = len(data)
    gap = data["alive"].to_numpy() - model.probability_alive(data).to_numpy()
    within(gap.mean(), 0.0, gap.std() / np.sqrt(n), "BG/BB alive - P(alive)")
    # Alive in period t with probability E[(1 - theta)^t] = B(gamma, delta + t) / B(gamma, delta).
    six = data[data["T"] == 6]
    expected = np.exp(
        special.betaln(BGBB["gamma"], BGBB["delta"] + 6)
        - special.betaln(BGBB["gamma"], BGBB["delta"])
    )
    share = six["alive"].mean()
    within(share, expected, np.sqrt(expected * (1 - expected) / len(six)), "BG/BB alive at 6")
    forecast = model.expected_purchases(3, data).to_numpy()
    periods = data["T"].to_numpy()
    unconditional = (
        model.expected_purchases_new_customer(periods + 3).to_numpy()
        - model.expected_purchases_new_customer(periods).to_numpy()
    )
    diff = forecast - unconditional
    within(diff.mean(), 0.0, diff.std() / np.sqrt(n), "BG/BB E[X(n, n+3) | history]")


@pytest.fixture(scope="module")
def gamma_gamma_sim():
    model = cp.GammaGammaModel.from_params(GAMMA_GAMMA)
    frequency = np.tile([1, 2, 5, 20], 50_000)
    return model, model.simulate(frequency, random_state=20261203, latent=True)


def test_gamma_gamma_spend_matches_closed_forms(gamma_gamma_sim):
    model, data = gamma_gamma_sim
    p, q, gamma = GAMMA_GAMMA.values()
    population_mean = p * gamma / (q - 1)
    assert model.population_mean() == pytest.approx(population_mean)
    n = len(data)
    # E[zbar] = E[p / nu] whatever the number of spends averaged (finite variance: q > 2).
    zbar = data["monetary_value"].to_numpy()
    within(zbar.mean(), population_mean, zbar.std() / np.sqrt(n), "mean spend")
    true_mean = data["mean_spend"].to_numpy()
    within(true_mean.mean(), population_mean, true_mean.std() / np.sqrt(n), "mean of p / nu")
    # Distribution: zbar = Gamma(px, 1) gamma / (x Gamma(q, 1)), so x zbar / gamma is beta-prime.
    for x, group in data.groupby("frequency"):
        scaled = x * group["monetary_value"].to_numpy() / gamma
        assert stats.kstest(scaled, stats.betaprime(p * x, q).cdf).pvalue > 1e-4, x


def test_gamma_gamma_posterior_mean_is_calibrated(gamma_gamma_sim):
    """E[M | x, zbar] is the posterior mean of p / nu, so on average it equals the truth."""
    model, data = gamma_gamma_sim
    gap = data["mean_spend"].to_numpy() - model.expected_average_value(data).to_numpy()
    within(gap.mean(), 0.0, gap.std() / np.sqrt(len(data)), "p/nu - E[M | x, zbar]")


def test_zero_frequency_has_no_spend():
    data = cp.GammaGammaModel.from_params(GAMMA_GAMMA).simulate([0, 0, 3], random_state=1)
    assert data["monetary_value"].isna().tolist() == [True, True, False]


# ------------------------------------------------------------------------------------------
# (b) Transaction logs through rfm_summary
# ------------------------------------------------------------------------------------------


def assert_same_summary(mine: pd.DataFrame, theirs: pd.DataFrame) -> None:
    mine = mine.loc[theirs.index]
    exact = ["frequency", "recency", "T"]
    pd.testing.assert_frame_equal(mine[exact], theirs[exact], check_exact=True)
    money = [c for c in ("monetary_value", "avg_order_value") if c in theirs]
    # Both sum the same amounts, pandas with compensated summation: equal to rounding.
    pd.testing.assert_frame_equal(mine[money], theirs[money], check_exact=False, rtol=1e-12)
    assert mine.attrs == theirs.attrs


def test_transaction_log_round_trip_merges_same_day_purchases():
    # Days, and buyers frequent enough that many buy twice on one day.
    rng = np.random.default_rng(41)
    ids = pd.Index([f"c{i:04d}" for i in range(3_000)])
    acquired = pd.Series(
        pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, len(ids)), unit="D"),
        index=ids,
    )
    params = {"r": 2.0, "alpha": 4.0, "s": 0.5, "beta": 60.0}  # half a purchase a day
    out = sim.simulate_transactions(
        "paretonbd",
        params,
        acquired,
        "2024-04-30",
        time_unit="D",
        spend_params=GAMMA_GAMMA,
        random_state=rng,
    )
    log = out.transactions
    assert list(log.columns) == ["customer_id", "date", "amount"]
    again = cp.rfm_summary(log, "customer_id", "date", "amount", observation_end="2024-04-30")
    assert_same_summary(out.rfm, again)
    # The merging really happened, and only ever lowers the count.
    merged = out.customers["continuous_frequency"] - out.rfm["frequency"]
    assert (merged >= 0).all() and (merged > 0).mean() > 0.2
    # Every purchase is between the customer's first purchase and the end of 2024-04-30.
    first = out.customers["first_purchase"].reindex(log["customer_id"]).to_numpy()
    assert (log["date"].to_numpy() >= first).all()
    assert (log["date"] < pd.Timestamp("2024-05-01")).all()
    assert (out.customers["first_purchase"].dt.normalize() == acquired).all()
    assert (log.groupby("customer_id").size() == out.customers["continuous_frequency"] + 1).all()


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_transaction_log_round_trip_without_spend(model):
    acquired = pd.date_range("2023-12-01", periods=400, freq="6h")  # times of day are dropped
    params = BGNBD if model == "bgnbd" else MBGNBD
    out = sim.simulate_transactions(
        model, params, acquired, "2024-12-31", time_unit="M", random_state=8
    )
    assert list(out.transactions.columns) == ["customer_id", "date"]
    again = cp.rfm_summary(
        out.transactions, "customer_id", "date", observation_end="2024-12-31", time_unit="M"
    )
    assert_same_summary(out.rfm, again)
    assert out.rfm.index.equals(pd.RangeIndex(400, name="customer_id"))


def test_pipeline_from_simulated_log():
    """End to end: a CDNOW-like cohort's log, summarised by rfm_summary and fitted.

    The continuous-time summary must give the parameters back. The calendar-day summary merges
    same-day purchases of heavy buyers, which shifts the BG/NBD's r and alpha up by a fixed
    proportion (measured over 40 seeds at this size: alpha +1.48 standard errors, sd 0.14;
    r +0.93, sd 0.09; a and b within 0.2): the test pins that shift below 2.5 standard errors,
    so a mistake in placing purchases on the calendar (which moves every estimate) shows.
    """
    rng = np.random.default_rng(42)
    acquired = pd.Timestamp("1997-01-01") + pd.to_timedelta(rng.integers(0, 84, 10_000), "D")
    out = sim.simulate_transactions(
        "bgnbd",
        BGNBD,
        acquired,
        "1997-09-30",
        time_unit="W",
        spend_params=GAMMA_GAMMA,
        random_state=rng,
    )
    truth = out.customers
    continuous = cp.BetaGeoModel(time_unit="W").fit(
        frequency=truth["continuous_frequency"],
        recency=truth["continuous_recency"],
        T=truth["continuous_T"],
    )
    assert covers(continuous, BGNBD, alpha=0.01).all(), continuous.summary(alpha=0.01)

    rfm = cp.rfm_summary(
        out.transactions,
        "customer_id",
        "date",
        "amount",
        observation_end="1997-09-30",
        time_unit="W",
    )
    daily = cp.BetaGeoModel().fit(rfm)
    assert daily.converged_ and daily.time_unit_ == "W"
    shift = (np.log(daily.params_) - np.log(continuous.params_)) / (
        continuous.standard_errors_ / continuous.params_
    )
    assert (shift.abs() < 2.5).all(), shift.to_dict()
    assert (shift[["a", "b"]].abs() < 0.75).all(), shift.to_dict()

    spend = cp.GammaGammaModel().fit(rfm)
    assert spend.converged_
    assert covers(spend, GAMMA_GAMMA, alpha=0.01).all(), spend.summary(alpha=0.01)


# ------------------------------------------------------------------------------------------
# Interface
# ------------------------------------------------------------------------------------------


def test_same_seed_same_customers_and_generator_continues():
    model = cp.BetaGeoModel.from_params(BGNBD, time_unit="W")
    first = model.simulate(39.0, n_customers=500, random_state=9)
    pd.testing.assert_frame_equal(first, model.simulate(39.0, n_customers=500, random_state=9))
    rng = np.random.default_rng(9)
    one, two = (model.simulate(39.0, n_customers=500, random_state=rng) for _ in range(2))
    assert not one.equals(two)


def test_simulate_keeps_index_and_unit(cdnow_summary):
    model = cp.ParetoNBDModel.from_params(PARETO, time_unit="W")
    data = model.simulate(cdnow_summary["T"], random_state=1)
    assert data.index.equals(cdnow_summary.index)
    assert data["T"].equals(cdnow_summary["T"].astype(float).rename("T"))
    assert data.attrs == {"time_unit": "W"}
    assert cp.ParetoNBDModel.from_params(PARETO).simulate(1.0, n_customers=2).attrs == {}
    empty = model.simulate(39.0, n_customers=0)
    assert len(empty) == 0 and list(empty.columns) == ["frequency", "recency", "T"]


def test_simulate_needs_parameters():
    with pytest.raises(NotFittedError):
        cp.BetaGeoModel().simulate(39.0, n_customers=10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sim.simulate_bgnbd(*BGNBD.values(), None), "T is required"),
        (lambda: sim.simulate_bgnbd(*BGNBD.values(), 39.0), "n_customers"),
        (lambda: sim.simulate_bgnbd(*BGNBD.values(), [1.0, 2.0], n_customers=3), "disagrees"),
        (lambda: sim.simulate_bgnbd(*BGNBD.values(), [1.0, -2.0]), "finite and >= 0"),
        (lambda: sim.simulate_bgnbd(0.0, 1.0, 1.0, 1.0, [1.0]), "finite and > 0"),
        (lambda: sim.simulate_bgnbd(*BGNBD.values(), 1.0, n_customers=2.5), "whole number"),
        (lambda: sim.simulate_bgbb(*BGBB.values(), [6, 2.5]), "whole numbers"),
        (lambda: sim.simulate_gamma_gamma(*GAMMA_GAMMA.values(), [-1]), "whole numbers"),
        (
            lambda: sim.simulate_transactions(
                "bgbb", BGBB, ["2024-01-01"], "2024-02-01", time_unit="D"
            ),
            "simulate_bgbb",
        ),
        (
            lambda: sim.simulate_transactions(
                "bgnbd", PARETO, ["2024-01-01"], "2024-02-01", time_unit="D"
            ),
            "takes parameters",
        ),
        (
            lambda: sim.simulate_transactions(
                "bgnbd", BGNBD, ["2024-03-01"], "2024-02-01", time_unit="W"
            ),
            "after observation_end",
        ),
        (
            # A purchase after April 2262 would wrap around to 1677 in nanoseconds.
            # 2262-04-11 is a day every pandas holds, but its last purchases would not be.
            lambda: sim.simulate_transactions(
                "bgnbd", BGNBD, ["2262-01-01"], "2262-04-11", time_unit="W"
            ),
            r"observation_end=2262-04-11 is after 2262-04-10, the last day",
        ),
        (
            lambda: sim.simulate_transactions(
                "bgnbd", BGNBD, ["2024-01-01"], "2024-02-01", time_unit="W", spend_params={"p": 1.0}
            ),
            "spend_params",
        ),
    ],
)
def test_invalid_input_is_refused(call, message):
    with pytest.raises(ClvDataError, match=message):
        call()
