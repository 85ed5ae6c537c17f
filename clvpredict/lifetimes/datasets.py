"""lifetimes' ``load_*`` data functions, reading the same files clvpredict ships.

Every function passes its keywords to :func:`pandas.read_csv`, as lifetimes' did, so calls such
as ``load_cdnow_summary(index_col=[0])`` behave the same.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..data.datasets import data_path

__all__ = [
    "load_cdnow_summary",
    "load_cdnow_summary_data_with_monetary_value",
    "load_dataset",
    "load_donations",
    "load_transaction_data",
]


def load_dataset(filename: str, **kwargs: Any) -> pd.DataFrame:
    """Read one of the bundled files (e.g. ``"CDNOW_sample.txt"``) with ``pandas.read_csv``."""
    return pd.read_csv(data_path(filename), **kwargs)


def load_donations(**kwargs: Any) -> pd.DataFrame:
    """The BG/BB donations summary: ``frequency``, ``recency``, ``periods``, ``weights``."""
    return load_dataset("donations.csv", **kwargs)


def load_cdnow_summary(**kwargs: Any) -> pd.DataFrame:
    """The CDNOW sample's published summary in weeks: ``ID``, ``frequency``, ``recency``, ``T``."""
    return load_dataset("cdnow_customers_summary.csv", **kwargs)


def load_transaction_data(**kwargs: Any) -> pd.DataFrame:
    """lifetimes' example log: ``date`` (text) and ``id``, purchases in 2014."""
    return load_dataset("example_transactions.csv", **kwargs)


def load_cdnow_summary_data_with_monetary_value(**kwargs: Any) -> pd.DataFrame:
    """The CDNOW summary with mean repeat spend, indexed by ``customer_id``.

    Columns ``frequency``, ``recency``, ``T`` (weeks) and ``monetary_value``, which is 0 for
    customers without repeat purchases, as lifetimes gives it.
    """
    frame = load_dataset("cdnow_customers_summary_with_transactions.csv", **kwargs)
    frame.columns = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    return frame.set_index("customer_id")
