"""Scoring a Spark summary where it lives: :func:`clv_table` on the executors.

:func:`spark_clv_table` takes the per-customer summary that :func:`~clvpredict.rfm_summary` or
:func:`~clvpredict.calibration_holdout_summary` return for a Spark log (a Spark DataFrame with a
``time_unit`` column) and runs :func:`~clvpredict.clv_table` on each partition with
``mapInPandas``. The fitted models travel to the executors pickled with the task, each batch of
customers is scored as pandas, and the result is a Spark DataFrame: no customer row is brought
to the driver, so the number of customers is bounded by the cluster, not by one process.

Executors need clvpredict installed (``pip install clvpredict[spark]`` on the cluster, or a
Databricks library). Per customer, the numbers are those :func:`~clvpredict.clv_table` gives for
the whole summary in one process: every column of the table depends only on the customer's own
row, the fitted parameters and the settings, which every batch shares. Two settings are made
once on the driver for that reason: ``lifetime_years`` must be a number (an estimate from the
log belongs to all customers, not to each batch's), and an ``interval`` without a
``random_state`` gets one seed for every batch, so that all customers see the same parameter
draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Real
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from .clv import clv_table
from .data.engines import SUMMARY_COLUMNS, UNIT_COLUMN, frame_kind, single_unit, summary_unit
from .exceptions import ClvDataError

__all__ = ["spark_clv_table"]


def _id_column(columns: list[str], given: str | None) -> str:
    if given is not None:
        if given not in columns:
            raise ClvDataError(
                f"customer_id_col={given!r} is not a column of the summary; it has {columns}."
            )
        return given
    others = [c for c in columns if c not in SUMMARY_COLUMNS]
    if len(others) != 1:
        raise ClvDataError(
            f"Cannot tell the customer id column of the summary among {others or columns}: "
            "pass customer_id_col=."
        )
    return others[0]


def _spark_type(dtype: np.dtype) -> str:
    """The Spark SQL type of a clv_table column."""
    if dtype.kind in "iu":
        return "bigint"
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind == "f":
        return "double"
    raise ClvDataError(f"clv_table made a column of type {dtype}, which has no Spark type here.")


def spark_clv_table(
    purchase_model: Any,
    spend_model: Any,
    summary: Any,
    *,
    customer_id_col: str | None = None,
    **clv_table_kwargs: Any,
) -> Any:
    """:func:`~clvpredict.clv_table` of a Spark summary, computed on the executors.

    Parameters
    ----------
    purchase_model, spend_model
        Fitted models, as for :func:`~clvpredict.clv_table`.
    summary : pyspark.sql.DataFrame
        A summary from :func:`~clvpredict.rfm_summary` or
        :func:`~clvpredict.calibration_holdout_summary` of a Spark log: the customer id column,
        the summary's columns, and ``time_unit``, the unit of ``recency`` and ``T``.
    customer_id_col : str, optional
        The customer id column; by default the one column that is not a summary column.
    **clv_table_kwargs
        Passed to :func:`~clvpredict.clv_table`. ``lifetime_years`` is required and must be one
        number for all customers (e.g. from :func:`~clvpredict.estimate_lifetime_years` on the
        driver).

    Returns
    -------
    pyspark.sql.DataFrame
        The customer id column, then the columns of :func:`~clvpredict.clv_table`, one row per
        customer of ``summary`` (in no particular order). It is a query: nothing is computed
        until it is written or collected.
    """
    if frame_kind(summary) != "spark":
        raise ClvDataError(
            f"spark_clv_table scores a Spark DataFrame, got {type(summary).__name__}; use "
            "clvpredict.clv_table for a pandas summary."
        )
    lifetime = clv_table_kwargs.get("lifetime_years")
    if not isinstance(lifetime, Real) or isinstance(lifetime, bool):
        raise ClvDataError(
            "spark_clv_table needs lifetime_years= as one number for every customer (got "
            f"{type(lifetime).__name__}): estimate it once on the driver, e.g. with "
            "clvpredict.estimate_lifetime_years, and pass the result."
        )
    settings = dict(clv_table_kwargs)
    if settings.get("interval") is not None and settings.get("random_state") is None:
        # One seed for every batch: each batch then draws the same model parameters.
        settings["random_state"] = int(np.random.SeedSequence().generate_state(1)[0])
    columns = list(summary.columns)
    id_col = _id_column(columns, customer_id_col)
    if UNIT_COLUMN not in columns:
        raise ClvDataError(
            f"The summary has no {UNIT_COLUMN!r} column stating the unit of recency and T; "
            "build it with clvpredict.rfm_summary or calibration_holdout_summary."
        )
    # One customer, scored on the driver, gives the unit and the table's columns and types. A
    # summary that is a query (not yet written or cached) is computed for it, once more than for
    # the scoring; every batch then checks that its rows are in the same unit.
    sample = nw.from_native(summary).head(1).collect().to_pandas()
    if len(sample) == 0:
        raise ClvDataError("The summary is empty: there are no customers to score.")
    unit = summary_unit(sample)

    def score(batch: pd.DataFrame) -> pd.DataFrame:
        # Refuses a batch in another unit than the sample's, as a table mixing units.
        single_unit(pd.concat([pd.Series([unit]), batch[UNIT_COLUMN]], ignore_index=True))
        rfm = batch.drop(columns=[UNIT_COLUMN]).set_index(id_col)
        # Spark does not carry pandas attrs: the unit comes from the summary's column.
        rfm.attrs["time_unit"] = unit
        return clv_table(purchase_model, spend_model, rfm, **settings).reset_index()

    example = score(sample)
    out_columns = [c for c in example.columns if c != id_col]
    dtypes = {c: example[c].dtype for c in out_columns}
    id_type = summary.schema[id_col].dataType.simpleString()
    schema = ", ".join(
        [f"`{id_col}` {id_type}"] + [f"`{c}` {_spark_type(dtypes[c])}" for c in out_columns]
    )

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch) == 0:
                continue
            table = score(batch)
            # A column clv_table adds only for some data (the holdout forecast, when every
            # duration is equal) is missing (NaN) in a batch without it, never shifted.
            table = table.reindex(columns=[id_col, *out_columns])
            yield table.astype(dtypes)

    return summary.mapInPandas(score_batches, schema)
