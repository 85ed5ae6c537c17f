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

from typing import Any

from .clv import _clv_table_on_spark
from .data.engines import frame_kind
from .exceptions import ClvDataError

__all__ = ["spark_clv_table"]


def spark_clv_table(
    purchase_model: Any,
    spend_model: Any,
    summary: Any,
    *,
    customer_id_col: str | None = None,
    **clv_table_kwargs: Any,
) -> Any:
    """:func:`~clvpredict.clv_table` of a Spark summary, computed on the executors.

    ``clvpredict.clv_table`` does the same for a Spark summary; this function also takes the
    name of the id column, for a summary with more than one column besides the summary's.

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
    return _clv_table_on_spark(
        purchase_model, spend_model, summary, customer_id_col, **clv_table_kwargs
    )
