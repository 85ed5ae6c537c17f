"""Make the simulated data set with customer covariates (``covariates_*`` in this folder).

5,000 customers of a made-up retailer, acquired over 78 weeks and observed to the end of week 78,
buy as the BG/NBD says with parameters near the published CDNOW fit, each with their own purchase
and dropout parameters set by three covariates: the acquisition channel, loyalty-programme
membership and age. Spend per purchase follows the Gamma-Gamma model (no covariates). What was
drawn, and how, is recorded in ``covariates_truth.json``; see README.md in this folder.

Run from anywhere (the same seed and numpy version give the same files, byte for byte)::

    python data/make_covariates_data.py               # writes next to this script
    python data/make_covariates_data.py --output DIR  # writes to DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import clvpredict as cp
from clvpredict.simulation import customer_parameters, simulate_transactions

SEED = 20261202
N_CUSTOMERS = 5_000
MODEL = "bgnbd"
TIME_UNIT = "W"
WEEKS = 78
FIRST_DAY = pd.Timestamp("2024-01-01")
#: The last observed day: 78 weeks (546 days) from FIRST_DAY, both included.
LAST_DAY = FIRST_DAY + pd.Timedelta(days=7 * WEEKS - 1)

#: BG/NBD parameters (weeks) of a customer whose covariates are all 0: a store customer, not a
#: loyalty member, aged 40. Near the published CDNOW fit (Fader, Hardie & Lee 2005).
PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
#: Per unit of each design column. Purchase: the mean purchase rate is multiplied by
#: exp(coefficient). Dropout (BG/NBD): a and b are both multiplied by exp(coefficient), which
#: keeps the mean dropout probability and, for a negative coefficient, widens its spread: more
#: customers who almost never drop out.
COEFFICIENTS = {
    "purchase.channel[web]": 0.4,
    "purchase.channel[partner]": -0.3,
    "purchase.loyalty": 0.5,
    "purchase.age_decades": 0.1,
    "dropout.loyalty": -0.8,
}
#: Gamma-Gamma spend per purchase (US dollars), the published CDNOW fit; no covariates.
SPEND = {"p": 6.25, "q": 3.74, "gamma": 15.44}

#: The channels, the reference level first, and their shares of the customers.
CHANNELS = {"store": 0.50, "web": 0.35, "partner": 0.15}
#: Share of loyalty-programme members by channel.
LOYALTY = {"store": 0.40, "web": 0.25, "partner": 0.15}
#: Age in whole years: normal around a mean by channel, clipped to 18..85.
AGE_MEAN = {"store": 45.0, "web": 35.0, "partner": 40.0}
AGE_SD = 12.0

FILES = {
    "customers": "covariates_customers.csv",
    "summary": "covariates_summary.csv",
    "transactions": "covariates_transactions.csv",
    "truth": "covariates_truth.json",
}


def draw_customers(rng: np.random.Generator) -> pd.DataFrame:
    """The customer table: ``channel``, ``loyalty`` (0/1), ``age_decades``, by customer id."""
    ids = pd.Index([f"C{i:05d}" for i in range(1, N_CUSTOMERS + 1)], name="customer_id")
    channel = rng.choice(list(CHANNELS), size=N_CUSTOMERS, p=list(CHANNELS.values()))
    loyalty = (rng.random(N_CUSTOMERS) < pd.Series(channel).map(LOYALTY).to_numpy()).astype(int)
    mean_age = pd.Series(channel).map(AGE_MEAN).to_numpy()
    age = np.clip(np.round(rng.normal(mean_age, AGE_SD)), 18, 85)
    return pd.DataFrame(
        {"channel": channel, "loyalty": loyalty, "age_decades": (age - 40.0) / 10.0}, index=ids
    )


def design(customers: pd.DataFrame) -> pd.DataFrame:
    """The design columns: a 0/1 dummy per channel besides "store", loyalty, age_decades."""
    columns = {
        f"channel[{level}]": (customers["channel"] == level).astype(int)
        for level in list(CHANNELS)[1:]
    }
    columns.update(loyalty=customers["loyalty"], age_decades=customers["age_decades"])
    return pd.DataFrame(columns, index=customers.index)


def make(folder: Path) -> dict[str, Path]:
    """Draw the data set and write its four files into ``folder``; return their paths."""
    customers_rng, purchases_rng = (
        np.random.default_rng(seq) for seq in np.random.SeedSequence(SEED).spawn(2)
    )
    customers = draw_customers(customers_rng)
    individual = customer_parameters(MODEL, PARAMS, COEFFICIENTS, design(customers))
    n_days = (LAST_DAY - FIRST_DAY).days + 1
    acquired = pd.Series(
        FIRST_DAY + pd.to_timedelta(purchases_rng.integers(0, n_days, N_CUSTOMERS), unit="D"),
        index=customers.index,
    )
    simulated = simulate_transactions(
        MODEL,
        individual,
        acquired,
        LAST_DAY,
        time_unit=TIME_UNIT,
        spend_params=SPEND,
        random_state=purchases_rng,
    )
    # The log as a shop would keep it: the day of each purchase and its amount in cents.
    log = simulated.transactions.assign(
        date=simulated.transactions["date"].dt.floor("D"),
        amount=simulated.transactions["amount"].round(2),
    )
    summary = cp.rfm_summary(
        log, "customer_id", "date", "amount", observation_end=LAST_DAY, time_unit=TIME_UNIT
    )[["frequency", "recency", "T", "monetary_value"]]

    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in FILES.items()}
    customers.to_csv(paths["customers"], lineterminator="\n")
    summary.to_csv(paths["summary"], lineterminator="\n")
    log.to_csv(
        paths["transactions"],
        index=False,
        date_format="%Y-%m-%d",
        float_format="%.2f",
        lineterminator="\n",
    )
    truth = {
        "description": (
            "Simulated customers of a made-up retailer with three covariates, drawn from the "
            "BG/NBD with per-customer parameters and the Gamma-Gamma spend model."
        ),
        "model": MODEL,
        "time_unit": TIME_UNIT,
        "params": PARAMS,
        "coefficients": COEFFICIENTS,
        "parameterisation": (
            "alpha_i = alpha * exp(-g_purchase . z_i); a_i = a * exp(g_dropout . z_i), "
            "b_i = b * exp(g_dropout . z_i) (clvpredict.simulation.customer_parameters)"
        ),
        "design_columns": list(design(customers).columns),
        "covariates": {
            "channel": {
                "kind": "categorical",
                "levels": list(CHANNELS),
                "reference": next(iter(CHANNELS)),
                "shares": CHANNELS,
            },
            "loyalty": {
                "kind": "0/1",
                "meaning": "loyalty-programme member",
                "share_by_channel": LOYALTY,
            },
            "age_decades": {
                "kind": "numeric",
                "definition": "(age - 40) / 10, age in whole years",
                "age": "normal, rounded to whole years, clipped to 18..85",
                "age_mean_by_channel": AGE_MEAN,
                "age_sd": AGE_SD,
            },
        },
        "spend_model": "gammagamma",
        "spend_params": SPEND,
        "acquisition": "first purchase on a day drawn uniformly from the observed days",
        "observation_start": str(FIRST_DAY.date()),
        "observation_end": str(LAST_DAY.date()),
        "n_customers": N_CUSTOMERS,
        "n_transactions": len(log),
        "seed": SEED,
        "generator": "data/make_covariates_data.py",
        "numpy_version": np.__version__,
        "pandas_version": pd.__version__,
        "files": {key: name for key, name in FILES.items() if key != "truth"},
    }
    paths["truth"].write_text(json.dumps(truth, indent=2) + "\n")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write the files to (default: this script's folder)",
    )
    args = parser.parse_args(argv)
    for path in make(args.output).values():
        print(path)


if __name__ == "__main__":
    main()
