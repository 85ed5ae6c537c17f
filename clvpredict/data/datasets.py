"""Public reference data sets shipped with clvpredict.

* CDNOW: purchases of a cohort of customers of the CDNOW online music store, 1997-01-01 to
  1998-06-30 (the data of Fader, Hardie & Lee 2005). ``kind="sample"`` is the 1/10th sample of
  2,357 customers used in the papers; ``kind="master"`` all 23,570 customers.
* Donations: a non-profit's 11,104 donors over 6 annual giving opportunities (Fader, Hardie &
  Shang 2010), already summarised for the BG/BB model.
* Covariates: 5,000 simulated customers of a made-up retailer with three covariates
  (acquisition channel, loyalty membership, age), drawn from the BG/NBD with per-customer
  parameters; the truth (parameters and coefficients) is recorded with them.

The files live in ``clvpredict/_data`` inside an installed wheel and in ``data/`` of a source
checkout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..exceptions import ClvDataError

__all__ = [
    "data_path",
    "load_cdnow",
    "load_cdnow_summary",
    "load_covariates_customers",
    "load_covariates_summary",
    "load_covariates_transactions",
    "load_covariates_truth",
    "load_donations",
]

# The package root: bundled files sit in its _data/ (wheel) or beside it in data/ (checkout).
_HERE = Path(__file__).resolve().parents[1]


def data_path(name: str) -> Path:
    """Absolute path of a bundled data file (wheel install or source checkout)."""
    for folder in (_HERE / "_data", _HERE.parent / "data"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Bundled data file {name!r} not found in {_HERE / '_data'} or {_HERE.parent / 'data'}; "
        "the installation is incomplete. Reinstall clvpredict."
    )


def load_cdnow(kind: Literal["sample", "master"] = "sample") -> pd.DataFrame:
    """CDNOW transactions, one row per purchase record.

    Parameters
    ----------
    kind : {"sample", "master"}
        ``"sample"``: the 1/10th sample (2,357 customers, 6,919 rows) of the BG/NBD paper, with the
        sample's customer ids 1..2357. ``"master"``: all 23,570 customers (69,659 rows).

    Returns
    -------
    DataFrame
        Columns ``customer_id`` (int), ``date`` (datetime64, day precision), ``quantity`` (int,
        number of CDs) and ``amount`` (float, US dollars).

    Examples
    --------
    >>> from clvpredict.datasets import load_cdnow
    >>> tx = load_cdnow()
    >>> tx.shape
    (6919, 4)
    """
    if kind == "sample":
        raw = pd.read_csv(
            data_path("CDNOW_sample.txt"),
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "quantity", "amount"],
            dtype={"date": str},
        ).drop(columns="master_id")
    elif kind == "master":
        raw = pd.read_csv(data_path("CDNOW_master.txt"), sep=r"\s+", dtype={"date": str})
        raw = raw.rename(columns={"number_of_cds": "quantity", "dollar_value": "amount"})
    else:
        raise ClvDataError(f"kind={kind!r} is not one of 'sample', 'master'.")
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    out = raw[["customer_id", "date", "quantity", "amount"]].copy()
    out["customer_id"] = out["customer_id"].astype("int64")
    out["quantity"] = out["quantity"].astype("int64")
    out["amount"] = out["amount"].astype(float)
    return out


def load_cdnow_summary() -> pd.DataFrame:
    """The published RFM summary of the CDNOW sample (weeks, 39-week calibration to 1997-09-30).

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (1..2357), with ``frequency`` (repeat purchase days),
        ``recency`` and ``T`` (weeks, rounded to two decimals as published) and
        ``monetary_value`` (mean repeat spend in US dollars, ``NaN`` for one-time buyers).
        ``attrs["time_unit"] == "W"``.

    Examples
    --------
    >>> from clvpredict.datasets import load_cdnow_summary
    >>> load_cdnow_summary().loc[1].round(2).to_dict()
    {'frequency': 2.0, 'recency': 30.43, 'T': 38.86, 'monetary_value': 22.35}
    """
    raw = pd.read_csv(data_path("cdnow_customers_summary_with_transactions.csv"))
    out = pd.DataFrame(
        {
            "frequency": raw["x"].astype("int64").to_numpy(),
            "recency": raw["t_x"].astype(float).to_numpy(),
            "T": raw["T"].astype(float).to_numpy(),
            "monetary_value": raw["zbar"].where(raw["x"] > 0).astype(float).to_numpy(),
        },
        index=pd.Index(raw["ID"].astype("int64"), name="customer_id"),
    )
    out.attrs.update(time_unit="W", observation_end="1997-09-30")
    return out


def load_donations() -> pd.DataFrame:
    """The donations data of Fader, Hardie & Shang (2010) for the BG/BB model.

    Returns
    -------
    DataFrame
        22 rows, columns ``frequency`` (donations after the first, out of ``periods``),
        ``recency`` (the period of the last donation), ``periods`` (= 6 opportunities) and
        ``weights`` (number of donors with that history; they sum to 11,104).

    Examples
    --------
    >>> from clvpredict.datasets import load_donations
    >>> int(load_donations()["weights"].sum())
    11104
    """
    return pd.read_csv(data_path("donations.csv")).astype("int64")


def load_covariates_truth() -> dict[str, Any]:
    """How the simulated data set with covariates was made: the truth to recover.

    Returns
    -------
    dict
        ``model`` (``"bgnbd"``), ``time_unit`` (``"W"``), ``params`` (the BG/NBD parameters of a
        customer whose covariates are all 0), ``coefficients`` (by name, e.g.
        ``"purchase.channel[web]"``), ``design_columns``, ``covariates`` (levels, reference level
        and how each was drawn), ``spend_params`` (Gamma-Gamma), the observation window, the
        numbers of customers and transactions, the seed, the generator script and the numpy and
        pandas versions it ran with.

    Examples
    --------
    >>> from clvpredict.datasets import load_covariates_truth
    >>> truth = load_covariates_truth()
    >>> truth["model"], truth["coefficients"]["purchase.channel[web]"]
    ('bgnbd', 0.4)
    """
    return json.loads(data_path("covariates_truth.json").read_text())


def load_covariates_customers() -> pd.DataFrame:
    """The customers of the simulated data set with covariates, one row each.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (str, ``"C00001"`` .. ``"C05000"``), with ``channel``
        (categorical, levels ``store`` (the reference), ``web``, ``partner``), ``loyalty``
        (int, 1 for a loyalty-programme member) and ``age_decades`` (float, ``(age - 40) / 10``).

    Examples
    --------
    >>> from clvpredict.datasets import load_covariates_customers
    >>> customers = load_covariates_customers()
    >>> customers.shape, list(customers["channel"].cat.categories)
    ((5000, 3), ['store', 'web', 'partner'])
    """
    levels = load_covariates_truth()["covariates"]["channel"]["levels"]
    raw = pd.read_csv(data_path("covariates_customers.csv"), dtype={"customer_id": str})
    return pd.DataFrame(
        {
            "channel": pd.Categorical(raw["channel"], categories=levels),
            "loyalty": raw["loyalty"].astype("int64").to_numpy(),
            "age_decades": raw["age_decades"].astype(float).to_numpy(),
        },
        index=pd.Index(raw["customer_id"], name="customer_id"),
    )


def load_covariates_transactions() -> pd.DataFrame:
    """The purchases of the simulated customers with covariates, one row each.

    Returns
    -------
    DataFrame
        ``customer_id`` (str), ``date`` (datetime64, day precision; several purchases of a
        customer can share a day) and ``amount`` (float, US dollars), sorted by customer and
        date, from 2024-01-01 to 2025-06-29 (78 weeks).

    Examples
    --------
    >>> from clvpredict.datasets import load_covariates_transactions
    >>> load_covariates_transactions()["customer_id"].nunique()
    5000
    """
    out = pd.read_csv(data_path("covariates_transactions.csv"), dtype={"customer_id": str})
    out["date"] = pd.to_datetime(out["date"], format="%Y-%m-%d")
    out["amount"] = out["amount"].astype(float)
    return out


def load_covariates_summary() -> pd.DataFrame:
    """The RFM summary (weeks) of the simulated customers with covariates.

    It is :func:`~clvpredict.rfm_summary` of :func:`load_covariates_transactions` in weeks to
    the last day, 2025-06-29; join :func:`load_covariates_customers` for the covariates.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (str), with ``frequency`` (repeat purchase days),
        ``recency`` and ``T`` (weeks) and ``monetary_value`` (mean repeat spend, ``NaN`` for
        one-time buyers). ``attrs["time_unit"] == "W"``.

    Examples
    --------
    >>> from clvpredict.datasets import load_covariates_summary
    >>> summary = load_covariates_summary()
    >>> summary.shape, summary.attrs["time_unit"]
    ((5000, 4), 'W')
    """
    truth = load_covariates_truth()
    raw = pd.read_csv(data_path("covariates_summary.csv"), dtype={"customer_id": str})
    out = pd.DataFrame(
        {
            "frequency": raw["frequency"].astype("int64").to_numpy(),
            "recency": raw["recency"].astype(float).to_numpy(),
            "T": raw["T"].astype(float).to_numpy(),
            "monetary_value": raw["monetary_value"].astype(float).to_numpy(),
        },
        index=pd.Index(raw["customer_id"], name="customer_id"),
    )
    out.attrs.update(time_unit=truth["time_unit"], observation_end=truth["observation_end"])
    return out
