"""Simulation of customers with covariates: per-customer parameters in the simulators.

(a) Per-customer parameters that all equal one value give exactly the draws of that value.
(b) Groups of customers with their own covariates against the model's closed forms at the
    group's individual parameters: mean frequency vs E[X(T)], share alive vs mean P(alive),
    within 4 Monte Carlo standard errors computed from the simulated sample (fixed seeds).
(c) The direction of each coefficient, as :mod:`clvpredict.models._covariate_math` documents it.
(d) Refusals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvpredict import simulation as sim
from clvpredict._registry import model_spec
from clvpredict.exceptions import ClvDataError

#: Published estimates (weeks), as in tests/test_simulation.py.
BGNBD = {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262}
MBGNBD = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
PARETO = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668}
PARAMS = {"bgnbd": BGNBD, "mbgnbd": MBGNBD, "paretonbd": PARETO}
SIMULATORS = {
    "bgnbd": sim.simulate_bgnbd,
    "mbgnbd": sim.simulate_mbgnbd,
    "paretonbd": sim.simulate_pareto_nbd,
}

Z = 4.0  # tolerance in Monte Carlo standard errors


def within(estimate: float, expected: float, se: float, what: str) -> None:
    assert abs(estimate - expected) <= Z * se, (
        f"{what}: simulated {estimate:.6g}, expected {expected:.6g}, "
        f"difference {(estimate - expected) / se:+.2f} standard errors"
    )


def design(n_per_group: int) -> pd.DataFrame:
    """Three channels (reference "store") of n customers each, with string customer ids."""
    channel = np.repeat(["store", "web", "partner"], n_per_group)
    ids = pd.Index([f"C{i:06d}" for i in range(len(channel))], name="customer_id")
    return pd.DataFrame(
        {
            "channel[web]": (channel == "web").astype(int),
            "channel[partner]": (channel == "partner").astype(int),
        },
        index=ids,
    )


# ------------------------------------------------------------------------------------------
# (a) One value per customer, repeated, gives the draws of that value
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_repeated_per_customer_parameters_give_the_scalar_draws(kind):
    params = PARAMS[kind]
    simulate = SIMULATORS[kind]
    big_t = np.random.default_rng(5).uniform(0.0, 78.0, size=3_000)
    scalar = simulate(*params.values(), big_t, random_state=17, latent=True)
    repeated = simulate(
        *(np.full(len(big_t), v) for v in params.values()), big_t, random_state=17, latent=True
    )
    pd.testing.assert_frame_equal(repeated, scalar)
    # One parameter per customer, the others single values, and one T for everybody.
    one = simulate(*params.values(), 39.0, n_customers=2_000, random_state=3)
    mixed = dict(params, alpha=np.full(2_000, params["alpha"]))
    pd.testing.assert_frame_equal(simulate(*mixed.values(), 39.0, random_state=3), one)

    # Covariates whose coefficients are 0, or whose values are 0, change nothing either.
    z = design(1_000)
    coefficients = {"purchase.channel[web]": 0.0, "shared.channel[partner]": 0.0}
    with_covariates = sim.simulate_with_covariates(
        kind, params, coefficients, z, 39.0, random_state=3, latent=True
    )
    plain = simulate(*params.values(), 39.0, n_customers=3_000, random_state=3, latent=True)
    pd.testing.assert_frame_equal(with_covariates[plain.columns].set_axis(plain.index), plain)
    zeros = z * 0
    nonzero = {"purchase.channel[web]": 0.7, "shared.channel[partner]": -0.4}
    pd.testing.assert_frame_equal(
        sim.simulate_with_covariates(kind, params, nonzero, zeros, 39.0, random_state=3),
        sim.simulate_with_covariates(kind, params, coefficients, zeros, 39.0, random_state=3),
    )


def test_transaction_log_with_repeated_per_customer_parameters_is_the_scalar_log():
    dates = pd.Series(
        pd.date_range("2024-01-01", periods=400, freq="D"),
        index=pd.Index([f"C{i:04d}" for i in range(400)], name="customer_id"),
    )
    scalar = sim.simulate_transactions(
        "paretonbd", PARETO, dates, "2025-06-30", time_unit="W", random_state=8
    )
    per_customer = {k: pd.Series(v, index=dates.index) for k, v in PARETO.items()}
    # A Series of parameters is matched to the customers by id, whatever its order.
    per_customer["beta"] = per_customer["beta"].iloc[::-1]
    repeated = sim.simulate_transactions(
        "paretonbd", per_customer, dates, "2025-06-30", time_unit="W", random_state=8
    )
    pd.testing.assert_frame_equal(repeated.transactions, scalar.transactions)
    pd.testing.assert_frame_equal(repeated.rfm, scalar.rfm)
    pd.testing.assert_frame_equal(repeated.customers, scalar.customers)


# ------------------------------------------------------------------------------------------
# (b) Groups against the closed forms at their individual parameters
# ------------------------------------------------------------------------------------------

#: A purchase and a dropout effect for each non-reference channel (one shared).
COEFFICIENTS = {
    "purchase.channel[web]": 0.6,
    "dropout.channel[web]": -0.8,
    "shared.channel[partner]": 0.5,
}


@pytest.fixture(scope="module", params=sorted(PARAMS))
def group_sim(request):
    kind = request.param
    z = design(60_000)
    rng = np.random.default_rng(20261202)
    big_t = pd.Series(rng.uniform(1.0, 78.0, size=len(z)), index=z.index)
    data = sim.simulate_with_covariates(
        kind, PARAMS[kind], COEFFICIENTS, z, big_t, time_unit="W", random_state=rng, latent=True
    )
    return kind, data


def test_individual_parameters_follow_the_documented_formulas(group_sim):
    kind, data = group_sim
    names = list(PARAMS[kind])
    web = data["channel[web]"] == 1
    partner = data["channel[partner]"] == 1
    store = ~web & ~partner
    pd.testing.assert_frame_equal(
        data.loc[store, names].drop_duplicates().reset_index(drop=True),
        pd.DataFrame([PARAMS[kind]]),
    )
    web_params = data.loc[web, names].iloc[0]
    partner_params = data.loc[partner, names].iloc[0]
    base = PARAMS[kind]
    assert web_params["alpha"] == pytest.approx(base["alpha"] * np.exp(-0.6), rel=1e-12)
    assert partner_params["alpha"] == pytest.approx(base["alpha"] * np.exp(-0.5), rel=1e-12)
    if kind == "paretonbd":
        assert web_params["beta"] == pytest.approx(base["beta"] * np.exp(0.8), rel=1e-12)
        assert partner_params["beta"] == pytest.approx(base["beta"] * np.exp(-0.5), rel=1e-12)
    else:
        for name in ("a", "b"):
            assert web_params[name] == pytest.approx(base[name] * np.exp(-0.8), rel=1e-12)
            assert partner_params[name] == pytest.approx(base[name] * np.exp(0.5), rel=1e-12)


def test_each_group_matches_the_model_at_its_individual_parameters(group_sim):
    kind, data = group_sim
    cls = model_spec(kind).cls
    names = list(PARAMS[kind])
    for _, group in data.groupby(["channel[web]", "channel[partner]"]):
        params = group[names].iloc[0].to_dict()
        model = cls.from_params(params, time_unit="W")
        n = len(group)
        expected = np.asarray(model.expected_purchases_new_customer(group["T"].to_numpy()))
        resid = group["frequency"].to_numpy() - expected
        within(resid.mean(), 0.0, resid.std() / np.sqrt(n), f"{kind} {params} X(T) - E[X(T)]")
        # The joint distribution of frequency and recency: alive at T vs P(alive | history).
        gap = group["alive"].to_numpy() - np.asarray(model.probability_alive(group))
        within(gap.mean(), 0.0, gap.std() / np.sqrt(n), f"{kind} {params} alive - P(alive)")


# ------------------------------------------------------------------------------------------
# (c) Directions
# ------------------------------------------------------------------------------------------


def _two_groups(kind: str, coefficients: dict[str, float], n: int = 80_000):
    z = pd.DataFrame({"x": np.repeat([0.0, 1.0], n)}, index=np.arange(2 * n))
    data = sim.simulate_with_covariates(
        kind, PARAMS[kind], coefficients, z, 52.0, random_state=2024, latent=True
    )
    return data[data["x"] == 0], data[data["x"] == 1]


def _mean_se(values: pd.Series) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / np.sqrt(len(values)))


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_a_positive_purchase_coefficient_multiplies_the_mean_purchase_rate(kind):
    base, moved = _two_groups(kind, {"purchase.x": 0.5})
    # The mean rate r / alpha_i grows by exp(0.5); compare the simulated means' ratio.
    m0, se0 = _mean_se(base["purchase_rate"])
    m1, se1 = _mean_se(moved["purchase_rate"])
    assert m0 == pytest.approx(PARAMS[kind]["r"] / PARAMS[kind]["alpha"], abs=Z * se0)
    within(m1, m0 * np.exp(0.5), np.hypot(se1, np.exp(0.5) * se0), f"{kind} mean rate")
    assert moved["frequency"].mean() > base["frequency"].mean()


def test_a_positive_pareto_dropout_coefficient_shortens_lifetimes():
    base, moved = _two_groups("paretonbd", {"dropout.x": 0.7})
    m0, se0 = _mean_se(base["dropout_rate"])
    m1, se1 = _mean_se(moved["dropout_rate"])
    within(m1, m0 * np.exp(0.7), np.hypot(se1, np.exp(0.7) * se0), "Pareto/NBD mean dropout rate")
    # Fewer alive at T = 52: P(alive) = (beta_i / (beta_i + T))^s.
    for group, beta in ((base, PARETO["beta"]), (moved, PARETO["beta"] * np.exp(-0.7))):
        expected = (beta / (beta + 52.0)) ** PARETO["s"]
        within(
            group["alive"].mean(),
            expected,
            np.sqrt(expected * (1 - expected) / len(group)),
            "Pareto/NBD share alive",
        )
    assert moved["alive"].mean() < base["alive"].mean()
    assert moved["frequency"].mean() < base["frequency"].mean()


@pytest.mark.parametrize("kind", ["bgnbd", "mbgnbd"])
def test_a_positive_bg_dropout_coefficient_concentrates_the_dropout_probabilities(kind):
    base, moved = _two_groups(kind, {"dropout.x": 0.8})
    a, b = PARAMS[kind]["a"], PARAMS[kind]["b"]
    # The mean dropout probability a / (a + b) stays ...
    for group in (base, moved):
        mean, se = _mean_se(group["dropout_probability"])
        within(mean, a / (a + b), se, f"{kind} mean dropout probability")
    # ... its variance, mean (1 - mean) / (a_i + b_i + 1), shrinks ...
    for group, c in ((base, 1.0), (moved, np.exp(0.8))):
        p = group["dropout_probability"].to_numpy()
        expected = a * b / (a + b) ** 2 / (c * (a + b) + 1)
        squares = (p - a / (a + b)) ** 2
        within(squares.mean(), expected, squares.std() / np.sqrt(len(p)), f"{kind} Var(p)")
    # ... so fewer customers almost never drop out: fewer alive in the long run, fewer purchases.
    assert moved["alive"].mean() < base["alive"].mean()
    assert moved["frequency"].mean() < base["frequency"].mean()


# ------------------------------------------------------------------------------------------
# Interface and refusals
# ------------------------------------------------------------------------------------------


def test_result_keeps_the_customers_ids_order_and_unit():
    z = design(3).iloc[::-1]
    big_t = pd.Series(np.arange(1.0, 10.0), index=design(3).index)  # other order: matched by id
    out = sim.simulate_with_covariates(
        "bgnbd",
        BGNBD,
        {"purchase.channel[web]": 0.2, "dropout.channel[partner]": 0.1},
        z,
        big_t,
        time_unit="W",
        random_state=1,
    )
    assert out.index.equals(z.index)
    assert list(out.columns) == ["frequency", "recency", "T", "channel[web]", "channel[partner]"]
    assert out["T"].to_numpy().tolist() == big_t[z.index].to_numpy().tolist()
    assert out.attrs == {"time_unit": "W"}
    assert (out["recency"] <= out["T"]).all()
    # An array T is in the covariates' row order; no time unit, no attrs.
    again = sim.simulate_with_covariates(
        "bgnbd",
        BGNBD,
        {"purchase.channel[web]": 0.2, "dropout.channel[partner]": 0.1},
        z,
        big_t[z.index].to_numpy(),
        random_state=1,
    )
    pd.testing.assert_frame_equal(again, out)
    assert again.attrs == {}
    # No covariates at all: the model without covariates.
    bare = sim.simulate_with_covariates(
        "paretonbd", PARETO, {}, pd.DataFrame(index=range(5)), 39.0, random_state=4
    )
    pd.testing.assert_frame_equal(
        bare,
        sim.simulate_pareto_nbd(*PARETO.values(), 39.0, n_customers=5, random_state=4),
        check_names=False,
    )


def test_customer_parameters_of_a_coefficient_series():
    z = pd.DataFrame({"age": [-1.0, 0.0, 2.0], "vip": [True, False, True]}, index=[7, 8, 9])
    coefficients = pd.Series({"purchase.age": 0.3, "dropout.vip": -0.5, "dropout.age": 0.1})
    out = sim.customer_parameters("paretonbd", pd.Series(PARETO), coefficients, z)
    assert list(out.columns) == ["r", "alpha", "s", "beta"]
    assert out.index.tolist() == [7, 8, 9]
    assert out["alpha"].tolist() == pytest.approx(
        [PARETO["alpha"] * np.exp(0.3), PARETO["alpha"], PARETO["alpha"] * np.exp(-0.6)]
    )
    assert out["beta"].tolist() == pytest.approx(
        [PARETO["beta"] * np.exp(0.1 + 0.5), PARETO["beta"], PARETO["beta"] * np.exp(-0.2 + 0.5)]
    )
    assert (out["r"] == PARETO["r"]).all() and (out["s"] == PARETO["s"]).all()


Z3 = pd.DataFrame({"age": [0.5, -1.0, 0.0], "channel[web]": [1, 0, 0]}, index=["a", "b", "c"])
OK = {"purchase.age": 0.2, "dropout.channel[web]": 0.3}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sim.simulate_with_covariates("bgbb", BGNBD, OK, Z3, 1.0), "simulate_bgbb"),
        (lambda: sim.simulate_with_covariates("bgnbd", PARETO, OK, Z3, 1.0), "takes parameters"),
        (
            lambda: sim.simulate_with_covariates("bgnbd", dict(BGNBD, a=-1.0), OK, Z3, 1.0),
            "finite and > 0",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, {**OK, "purchase.income": 1.0, "life.age": 1.0, "age": 1}, Z3, 1.0
            ),
            r"Unknown coefficients \['purchase.income', 'life.age', 'age'\]",
        ),
        (
            lambda: sim.simulate_with_covariates("bgnbd", BGNBD, {"purchase.age": 0.2}, Z3, 1.0),
            r"columns \['channel\[web\]'\] have no coefficient",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, {**OK, "shared.age": 0.1}, Z3, 1.0
            ),
            r"\['age'\] have a shared coefficient",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, {**OK, "dropout.age": np.inf}, Z3, 1.0
            ),
            "dropout.age=inf",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, {**OK, "dropout.age": "big"}, Z3, 1.0
            ),
            "must be finite numbers",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, OK, Z3.assign(age=[0.5, np.nan, 0.0]), 1.0
            ),
            r"columns \['age'\] \(customers \['b'\]",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, OK, Z3.assign(age=["x", "y", "z"]), 1.0
            ),
            r"columns \['age'\] are not numeric",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, OK, Z3.set_axis(["a", "b", "a"]), 1.0
            ),
            r"several rows for the customers \['a'\]",
        ),
        (lambda: sim.simulate_with_covariates("bgnbd", BGNBD, OK, Z3.to_numpy(), 1.0), "DataFrame"),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, {"purchase.age": 2_000.0, "dropout.channel[web]": 0.0}, Z3, 1.0
            ),
            r"overflow .* \(customers \['a', 'b'\]",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, {"purchase.T": 0.1}, pd.DataFrame({"T": [1.0]}), 1.0
            ),
            r"\['T'\] have the names of simulated columns",
        ),
        (
            lambda: sim.simulate_with_covariates(
                "bgnbd", BGNBD, OK, Z3, pd.Series([1.0, 2.0, 3.0], index=["a", "b", "x"])
            ),
            r"missing \['c'\], unknown \['x'\]",
        ),
        (lambda: sim.simulate_with_covariates("bgnbd", BGNBD, OK, Z3, [1.0, 2.0]), "T has 2"),
        (lambda: sim.simulate_with_covariates("bgnbd", BGNBD, OK, Z3, -1.0), "finite and >= 0"),
        (lambda: sim.simulate_with_covariates("bgnbd", BGNBD, OK, Z3, 1.0, time_unit="Q"), "Q"),
        (lambda: sim.simulate_bgnbd([0.2, 0.3], 4.0, [0.8, 0.8, 0.8], 2.4, 1.0), "one length"),
        (lambda: sim.simulate_bgnbd([0.2, -0.3], 4.0, 0.8, 2.4, 1.0), r"r must be .* \[-0.3\]"),
        (
            lambda: sim.simulate_pareto_nbd([0.2, 0.3], 4.0, 0.8, 2.4, 1.0, n_customers=3),
            "n_customers=3 disagrees",
        ),
        (lambda: sim.simulate_mbgnbd([0.2, 0.3], 4.0, 0.8, 2.4, [1.0, 2.0, 3.0]), "T has 3"),
        (lambda: sim.simulate_mbgnbd(np.ones((2, 2)), 4.0, 0.8, 2.4, 1.0), "shape"),
        (
            lambda: sim.simulate_transactions(
                "bgnbd", dict(BGNBD, r=[0.2, 0.3]), ["2024-01-01"], "2024-02-01", time_unit="W"
            ),
            "2 values for 1 acquisition dates",
        ),
    ],
)
def test_invalid_input_is_refused(call, message):
    with pytest.raises(ClvDataError, match=message):
        call()
