"""The simulated data set with covariates (data/covariates_*): generator, truth and loaders.

(a) Re-running the generator gives the shipped files byte for byte (same numpy and pandas).
(b) The truth file agrees with the files: customers, levels, window, counts; the summary is
    rfm_summary of the log; mean frequencies agree with the BG/NBD at each customer's own
    parameters; an independent maximum-likelihood fit written here gives the coefficients back.
(c) The loaders.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

import clvpredict as cp
from clvpredict.simulation import customer_parameters

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
FILES = [
    "covariates_customers.csv",
    "covariates_summary.csv",
    "covariates_transactions.csv",
    "covariates_truth.json",
]


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((DATA / "covariates_truth.json").read_text())


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return cp.datasets.load_covariates_customers()


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return cp.datasets.load_covariates_summary()


def design(customers: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """The design columns of the truth file, made here from the customer table."""
    channel = truth["covariates"]["channel"]
    columns = {
        f"channel[{level}]": (customers["channel"] == level).astype(float)
        for level in channel["levels"]
        if level != channel["reference"]
    }
    columns.update(loyalty=customers["loyalty"], age_decades=customers["age_decades"])
    out = pd.DataFrame(columns, index=customers.index)
    assert list(out.columns) == truth["design_columns"]
    return out


# ------------------------------------------------------------------------------------------
# (a) The generator
# ------------------------------------------------------------------------------------------


def test_generator_reproduces_the_shipped_files(tmp_path, truth):
    if (np.__version__, pd.__version__) != (truth["numpy_version"], truth["pandas_version"]):
        pytest.skip(
            f"the files were made with numpy {truth['numpy_version']} and pandas "
            f"{truth['pandas_version']}; numpy does not promise the same random streams across "
            "versions"
        )
    subprocess.run(
        [
            sys.executable,
            str(DATA / truth["generator"].removeprefix("data/")),
            "--output",
            tmp_path,
        ],
        check=True,
        capture_output=True,
    )
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


# ------------------------------------------------------------------------------------------
# (b) Truth and files agree
# ------------------------------------------------------------------------------------------


def test_truth_agrees_with_the_files(truth, customers, summary):
    log = cp.datasets.load_covariates_transactions()
    n = truth["n_customers"]
    assert n == 5_000
    assert len(customers) == len(summary) == log["customer_id"].nunique() == n
    assert customers.index.equals(summary.index)
    assert customers.index.tolist() == [f"C{i:05d}" for i in range(1, n + 1)]
    assert set(log["customer_id"]) == set(customers.index)
    assert len(log) == truth["n_transactions"]

    channel = truth["covariates"]["channel"]
    assert channel["levels"] == ["store", "web", "partner"] and channel["reference"] == "store"
    assert list(customers["channel"].cat.categories) == channel["levels"]
    assert set(customers["channel"]) == set(channel["levels"])
    assert set(customers["loyalty"]) == {0, 1}
    age = customers["age_decades"] * 10 + 40
    assert np.allclose(age, age.round()) and age.between(18, 85).all()
    # Every coefficient names a process and a design column.
    for name in truth["coefficients"]:
        process, _, column = name.partition(".")
        assert process in {"purchase", "dropout", "shared"} and column in truth["design_columns"]

    assert log["date"].min() >= pd.Timestamp(truth["observation_start"])
    assert log["date"].max() <= pd.Timestamp(truth["observation_end"])
    weeks = (pd.Timestamp(truth["observation_end"]) - pd.Timestamp(truth["observation_start"])).days
    assert (weeks + 1) / 7 == 78 and summary["T"].max() <= 78
    assert (log["amount"] > 0).all()


def test_summary_is_the_rfm_summary_of_the_log(truth, summary):
    again = cp.rfm_summary(
        cp.datasets.load_covariates_transactions(),
        "customer_id",
        "date",
        "amount",
        observation_end=truth["observation_end"],
        time_unit=truth["time_unit"],
    )
    again = again.loc[summary.index]
    assert again["frequency"].tolist() == summary["frequency"].tolist()
    for column in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(summary[column], again[column], rtol=1e-12, atol=0)
    assert summary.attrs["time_unit"] == truth["time_unit"] == "W"


def test_frequencies_agree_with_the_truth(truth, customers, summary):
    """Mean frequency by channel and loyalty against E[X(T)] at each customer's parameters.

    The summary counts purchase *days*, a little fewer than the model's purchases (same-day
    repeats merge); at about 1,000 customers a group the difference is far inside 4 standard
    errors.
    """
    individual = customer_parameters(
        truth["model"], truth["params"], truth["coefficients"], design(customers, truth)
    )
    cls = cp.BetaGeoModel
    expected = pd.Series(np.nan, index=summary.index)
    for params, group in individual.groupby(list(individual.columns)):
        model = cls.from_params(dict(zip(individual.columns, params, strict=True)))
        expected[group.index] = np.asarray(
            model.expected_purchases_new_customer(summary.loc[group.index, "T"].to_numpy())
        )
    resid = summary["frequency"] - expected
    for key, group in resid.groupby([customers["channel"], customers["loyalty"]], observed=True):
        se = group.std() / np.sqrt(len(group))
        assert abs(group.mean()) <= 4 * se, (key, group.mean() / se)


def _bgnbd_covariate_nll(theta, x, t_x, big_t, z_p, z_d):
    """Minus the BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6) with each customer's
    alpha_i = alpha exp(-z_p g_p), a_i = a exp(z_d g_d), b_i = b exp(z_d g_d); theta holds
    log r, log alpha, log a, log b, then g_p and g_d."""
    k = z_p.shape[1]
    r = np.exp(theta[0])
    alpha = np.exp(theta[1] - z_p @ theta[4 : 4 + k])
    scale = np.exp(z_d @ theta[4 + k :])
    a, b = np.exp(theta[2]) * scale, np.exp(theta[3]) * scale
    common = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
    )
    alive = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    gone = np.full(len(x), -np.inf)
    gone[repeat] = (
        np.log(a[repeat])
        - np.log(b[repeat] + x[repeat] - 1)
        - (r + x[repeat]) * np.log(alpha[repeat] + t_x[repeat])
    )
    return -(common + np.logaddexp(alive, gone)).sum()


def test_an_independent_fit_gives_the_truth_back(truth, customers, summary):
    """A direct maximisation of the likelihood, written here, on the shipped summary: each
    coefficient within 3 standard errors (from a finite-difference Hessian) of the truth."""
    z = design(customers, truth)
    purchase = list(z.columns)
    dropout = ["loyalty"]
    assert {f"purchase.{c}" for c in purchase} | {f"dropout.{c}" for c in dropout} >= set(
        truth["coefficients"]
    )
    data = (
        summary["frequency"].to_numpy(float),
        summary["recency"].to_numpy(),
        summary["T"].to_numpy(),
        z[purchase].to_numpy(float),
        z[dropout].to_numpy(float),
    )
    start = np.r_[np.log([0.3, 4.0, 0.8, 2.4]), np.zeros(len(purchase) + len(dropout))]
    fit = optimize.minimize(
        _bgnbd_covariate_nll, start, args=data, method="BFGS", options={"gtol": 1e-6}
    )
    k, h = len(start), 1e-4
    steps = np.eye(k) * h
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            f = [
                _bgnbd_covariate_nll(fit.x + si * steps[i] + sj * steps[j], *data)
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))
            ]
            hessian[i, j] = hessian[j, i] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h)
    covariance = np.linalg.inv(hessian)
    se = np.sqrt(np.diag(covariance))
    # At the maximum: BFGS on numerical gradients may stop on "precision loss", so check that
    # a Newton step from where it stopped would move no estimate by 1% of its standard error.
    gradient = np.array(
        [
            _bgnbd_covariate_nll(fit.x + steps[i], *data)
            - _bgnbd_covariate_nll(fit.x - steps[i], *data)
            for i in range(k)
        ]
    ) / (2 * h)
    assert np.all(np.abs(covariance @ gradient) < 0.01 * se), (covariance @ gradient) / se
    names = ["r", "alpha", "a", "b"] + [f"purchase.{c}" for c in purchase]
    names += [f"dropout.{c}" for c in dropout]
    true = np.r_[
        np.log([truth["params"][p] for p in ("r", "alpha", "a", "b")]),
        [truth["coefficients"].get(name, 0.0) for name in names[4:]],
    ]
    z_scores = pd.Series((fit.x - true) / se, index=names)
    assert (z_scores.abs() < 3).all(), z_scores.round(2).to_dict()
    # The effects are visible: every non-zero coefficient is more than 3 standard errors from 0.
    visible = pd.Series(np.abs(fit.x) / se, index=names)[list(truth["coefficients"])]
    assert (visible > 3).all(), visible.round(2).to_dict()


# ------------------------------------------------------------------------------------------
# (c) Loaders
# ------------------------------------------------------------------------------------------


def test_loaders(truth, customers, summary):
    assert list(customers.columns) == ["channel", "loyalty", "age_decades"]
    assert isinstance(customers["channel"].dtype, pd.CategoricalDtype)
    assert customers["loyalty"].dtype == np.int64 and customers["age_decades"].dtype == float
    assert customers.index.name == summary.index.name == "customer_id"
    assert list(summary.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert summary["frequency"].dtype == np.int64
    assert summary.attrs == {"time_unit": "W", "observation_end": truth["observation_end"]}
    assert summary["monetary_value"].isna().tolist() == (summary["frequency"] == 0).tolist()
    log = cp.datasets.load_covariates_transactions()
    assert list(log.columns) == ["customer_id", "date", "amount"]
    assert pd.api.types.is_datetime64_any_dtype(log["date"])
    assert cp.datasets.load_covariates_truth() == truth
