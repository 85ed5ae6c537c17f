"""Exact ranks of a per-customer table of any engine, with bounded memory in this process.

A report over a hundred million customers still prints exact numbers that depend on an order:
the value tiers cut customers by rank, the top customers are the first ranks, a quantile is an
order statistic. Here the engine does the work and this process receives a bounded number of
rows, whatever the number of customers.

**The order.** Customers are ranked by a value column, largest first; customers whose value is
missing (null or NaN) come last; ties are broken by the customer id, smallest first (text ids
compare by code point, as Python and Spark both compare them). Ids are unique in a summary, so
every customer has one rank, the same on every engine.

**The method** (a distributed form of Floyd and Rivest's selection): a seeded pseudo-random
sample of the candidates, drawn by the engine as the rows with the smallest hash of their id,
gives two keys that bracket the wanted rank with near certainty; one count query then tells
which of the three ranges holds it, and the search goes on in that range. Once a range holds at
most :data:`BAND_ROWS` rows, they are collected and sorted here. Every step is exact: the
sample only decides how fast the range narrows, never the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl

from ..exceptions import ClvDataError
from .engines import EAGER_KINDS, as_lazy, backend, count_true, frame_kind, scalars, to_caller

__all__ = [
    "BAND_ROWS",
    "SAMPLE_ROWS",
    "RankKey",
    "hashed_sample",
    "missing",
    "rank_keys",
    "rank_order",
    "ranked_before",
    "ranked_head",
]

#: Most rows of a range of ranks collected into this process to be sorted there.
BAND_ROWS = 262_144
#: Rows of the pseudo-random sample that picks the next range of ranks.
SAMPLE_ROWS = 65_536


@dataclass(frozen=True)
class RankKey:
    """Where a customer stands in the order: ``missing`` values rank after all others; then
    ``value`` (largest first; 0.0 when missing); then ``ident`` (smallest first)."""

    missing: bool
    value: float
    ident: Any


def missing(value: str) -> nw.Expr:
    """Whether a row's ``value`` is missing: null or NaN (an engine may hold either)."""
    return nw.col(value).is_null() | nw.col(value).is_nan()


def ranked_before(key: RankKey, value: str, ident: str) -> nw.Expr:
    """Rows that rank strictly before ``key`` (an engine expression)."""
    if key.missing:
        return ~missing(value) | (nw.col(ident) < key.ident)
    bigger = nw.col(value) > key.value
    tied = (nw.col(value) == key.value) & (nw.col(ident) < key.ident)
    return ~missing(value) & (bigger | tied)


def _at_or_before(key: RankKey, value: str, ident: str) -> nw.Expr:
    # Ids are unique: the row of the key itself is the one with its id.
    return ranked_before(key, value, ident) | (nw.col(ident) == key.ident)


def rank_order(rows: pd.DataFrame, value: str, ident: str) -> np.ndarray:
    """Positions of ``rows`` (with columns ``value`` and ``ident``) in rank order."""
    values = rows[value].to_numpy(dtype=float, na_value=np.nan)
    gone = np.isnan(values)
    helper = pd.DataFrame(
        {"m": gone, "v": np.where(gone, 0.0, -values), "i": rows[ident].to_numpy()},
    )
    return helper.sort_values(["m", "v", "i"], kind="mergesort").index.to_numpy()


def _sorted_keys(rows: pd.DataFrame, value: str, ident: str) -> list[RankKey]:
    """Rows (columns ``value`` and ``ident``) in rank order, as keys."""
    order = rank_order(rows, value, ident)
    values = rows[value].to_numpy(dtype=float, na_value=np.nan)[order]
    ids = rows[ident].to_numpy()[order]
    return [
        RankKey(True, 0.0, _plain(i)) if np.isnan(v) else RankKey(False, float(v), _plain(i))
        for v, i in zip(values, ids, strict=True)
    ]


def _plain(value: Any) -> Any:
    """A Python scalar (an engine literal) from a numpy or pandas one."""
    return value.item() if hasattr(value, "item") else value


def _rows(frame: nw.LazyFrame, condition: nw.Expr | None, columns: list[str]) -> pd.DataFrame:
    query = frame if condition is None else frame.filter(condition)
    return to_caller(query.select(*columns), "pandas")


def hashed_sample(
    data: Any, n: int, ident: str, columns: Sequence[str], *, seed: int = 0
) -> pd.DataFrame:
    """A pseudo-random sample of ``n`` rows of an engine table, collected as pandas.

    The rows are those with the smallest seeded hash of their id (ties by id), computed by the
    engine (Spark: ``xxhash64``; polars: ``hash``), so the sample depends only on the ids and
    ``seed``: the same table gives the same sample however it is partitioned. Uniform for a
    good hash; the engine keeps ``n`` rows per task, and this process receives ``n`` at most.
    """
    frame = as_lazy(data)
    native = frame.to_native()
    name = backend(frame)
    picked = [*dict.fromkeys([*columns, ident])]
    if name == "spark":
        from pyspark.sql import functions as F

        hashed = native.select(*picked, F.xxhash64(F.lit(seed), F.col(ident)).alias("_hash"))
        sample = hashed.orderBy("_hash", ident).limit(int(n)).drop("_hash")
    elif name == "polars":
        hashed = native.select(*picked).with_columns(pl.col(ident).hash(seed).alias("_hash"))
        sample = hashed.sort(["_hash", ident]).head(int(n)).drop("_hash")
    else:
        raise ClvDataError(
            f"A sample of a {name} table is drawn in this process: collect it first."
        )
    return to_caller(nw.from_native(sample), "pandas")[list(columns)]


@dataclass
class _Search:
    """The range of ranks still holding one wanted rank: keys after ``low`` (exclusive) up to
    ``high`` (inclusive); ``offset`` rows rank at or before ``low``; ``size`` rows in range."""

    rank: int
    low: RankKey | None
    high: RankKey | None
    offset: int
    size: int

    def condition(self, value: str, ident: str) -> nw.Expr | None:
        parts = []
        if self.low is not None:
            parts.append(~_at_or_before(self.low, value, ident))
        if self.high is not None:
            parts.append(_at_or_before(self.high, value, ident))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else parts[0] & parts[1]


def rank_keys(
    data: Any,
    value: str,
    ident: str,
    ranks: Sequence[int],
    *,
    band_rows: int | None = None,
    sample_rows: int | None = None,
    seed: int = 0,
) -> dict[int, RankKey]:
    """The keys of the customers at the given ranks (0 = the first), exactly.

    Parameters
    ----------
    data : frame of any engine
        One row per customer, with the columns ``value`` and ``ident`` (unique ids).
    value, ident : str
        The ranking value column and the customer id column.
    ranks : sequence of int
        Wanted ranks, each in ``0 .. rows - 1``.
    band_rows, sample_rows : int, optional
        Most rows collected to be sorted here, and the size of the pivot sample (defaults
        :data:`BAND_ROWS` and :data:`SAMPLE_ROWS`, read when called).
    seed : int
        Seed of the pivot samples (changes the queries run, never the answer).

    Returns
    -------
    dict
        Each wanted rank with its :class:`RankKey`.
    """
    band = int(BAND_ROWS if band_rows is None else band_rows)
    sample = int(SAMPLE_ROWS if sample_rows is None else sample_rows)
    frame = as_lazy(data).select(value, ident)
    kind = frame_kind(data)
    (total,) = scalars(frame, nw.len())
    total = int(total)
    wanted = sorted({int(r) for r in ranks})
    if wanted and (wanted[0] < 0 or wanted[-1] >= total):
        raise ClvDataError(f"Ranks {wanted} are not all within the {total:,} rows.")
    if kind in EAGER_KINDS or kind == "pandas" or backend(frame) not in ("spark", "polars"):
        # In this process already (or an engine without a seeded hash here): sort it whole.
        keys = _sorted_keys(_rows(frame, None, [value, ident]), value, ident)
        return {r: keys[r] for r in wanted}
    found: dict[int, RankKey] = {}
    searches = [_Search(r, None, None, 0, total) for r in wanted]
    for _ in range(64):
        small = [s for s in searches if s.size <= band]
        if small:
            _finish(frame, small, value, ident, found)
        searches = [s for s in searches if s.size > band]
        if not searches:
            return found
        _narrow(frame, searches, value, ident, sample, seed)
    raise ClvDataError("Ranks not found in 64 rounds: the ids are not unique?")  # pragma: no cover


def _finish(
    frame: nw.LazyFrame,
    searches: list[_Search],
    value: str,
    ident: str,
    found: dict[int, RankKey],
) -> None:
    """Collect the rows of each distinct small range once, sort them here, read the ranks."""
    ranges: dict[tuple, list[_Search]] = {}
    for search in searches:
        ranges.setdefault((search.low, search.high), []).append(search)
    for group in ranges.values():
        first = group[0]
        keys = _sorted_keys(
            _rows(frame, first.condition(value, ident), [value, ident]), value, ident
        )
        if len(keys) != first.size:
            raise ClvDataError(
                "The table changed between two queries (or its ids are not unique): rank "
                f"search found {len(keys)} rows where it counted {first.size}."
            )
        for search in group:
            found[search.rank] = keys[search.rank - search.offset]


def _narrow(
    frame: nw.LazyFrame,
    searches: list[_Search],
    value: str,
    ident: str,
    sample: int,
    seed: int,
) -> None:
    """One round: a sample of each distinct range gives two pivots per rank around where it
    should be; one count query of every pivot narrows each range to the one holding its rank."""
    pivots: list[tuple[_Search, RankKey, RankKey]] = []
    samples: dict[tuple, list[RankKey]] = {}
    spread = 3.0 * math.sqrt(sample)
    for search in searches:
        span = (search.low, search.high)
        if span not in samples:
            condition = search.condition(value, ident)
            where = frame if condition is None else frame.filter(condition)
            rows = hashed_sample(where, sample, ident, [value, ident], seed=seed)
            samples[span] = _sorted_keys(rows, value, ident)
        keys = samples[span]
        place = (search.rank - search.offset + 0.5) / search.size * len(keys)
        low = keys[max(0, min(len(keys) - 1, math.floor(place - spread)))]
        high = keys[max(0, min(len(keys) - 1, math.ceil(place + spread)))]
        pivots.append((search, low, high))
    counts = []
    for search, low, high in pivots:
        condition = search.condition(value, ident)
        for pivot in (low, high):
            inside = _at_or_before(pivot, value, ident)
            if condition is not None:
                inside = condition & inside
            counts.append(count_true(inside).alias(f"c{len(counts)}"))
    values = scalars(frame, *counts)
    for k, (search, low, high) in enumerate(pivots):
        upto_low, upto_high = (int(v or 0) for v in values[2 * k : 2 * k + 2])
        within = search.rank - search.offset
        if within < upto_low:
            search.high, search.size = low, upto_low
        elif within < upto_high:
            search.low, search.high = low, high
            search.offset += upto_low
            search.size = upto_high - upto_low
        else:
            search.low = high
            search.offset += upto_high
            search.size -= upto_high


def ranked_head(
    data: Any, value: str, ident: str, n: int, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The first ``n`` customers in rank order with a value (missing values left out), as
    pandas in that order, computed by the engine (Spark keeps ``n`` rows per task)."""
    frame = as_lazy(data).filter(~missing(value))
    names = list(columns) if columns is not None else frame.collect_schema().names()
    top = frame.select(*dict.fromkeys([*names, value, ident])).top_k(
        int(n), by=[value, ident], reverse=[False, True]
    )
    rows = to_caller(top, "pandas").reset_index(drop=True)
    return rows.iloc[rank_order(rows, value, ident)][names].reset_index(drop=True)
