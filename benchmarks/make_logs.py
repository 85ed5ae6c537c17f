"""Synthetic transaction logs for the engine benchmarks (bench_engines.py), as Parquet and CSV.

Customers are simulated with ``clvpredict.simulate_transactions`` from a BG/NBD purchase model
and the Gamma-Gamma spend model, in chunks of ``--chunk`` customers so that memory stays bounded
whatever the total. Chunk ``k`` uses seed ``--seed + k`` and customer ids
``k * chunk .. (k + 1) * chunk - 1``, so the log of the first million customers is the first part
of every larger log.

The story (weeks): r = 1.0, alpha = 3.15, a = 0.5, b = 5.0; customers acquired uniformly over the
first 180 days of 2024 and observed until 2024-12-31; spend p = 6.25, q = 3.74, gamma = 15.44
(the CDNOW Gamma-Gamma estimates). About 8.6 purchases per customer, and about 92% of the
customers buy again.

Each part is sorted by timestamp (a log is appended in time order), not by customer.

Output, under ``--out``:

* ``log_<N>.parquet`` when the log has a single part, else a directory ``log_<N>/`` of
  ``part-<k>.parquet`` files (a Parquet dataset);
* with ``--csv``, also ``log_<N>.csv`` (timestamps written as ``YYYY-MM-DD HH:MM:SS``).

Columns: ``customer_id`` (int64), ``date`` (timestamp, microseconds, no zone), ``amount``
(float64).

    python benchmarks/make_logs.py --customers 1000000 --csv --out DIR
    python benchmarks/make_logs.py --customers 10000000 --out DIR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import clvpredict as cp

PURCHASE = {"r": 1.0, "alpha": 3.15, "a": 0.5, "b": 5.0}
SPEND = {"p": 6.25, "q": 3.74, "gamma": 15.44}
FIRST_ACQUISITION = "2024-01-01"
ACQUISITION_DAYS = 180
OBSERVATION_END = "2024-12-31"


def simulate_chunk(k: int, size: int, seed: int) -> pd.DataFrame:
    """Customers ``k * size .. (k + 1) * size - 1`` and their purchases, in time order."""
    rng = np.random.default_rng(seed + k)
    offsets = rng.integers(0, ACQUISITION_DAYS, size=size)
    dates = pd.Series(
        pd.Timestamp(FIRST_ACQUISITION) + pd.to_timedelta(offsets, unit="D"),
        index=pd.RangeIndex(k * size, (k + 1) * size, name="customer_id"),
    )
    sim = cp.simulate_transactions(
        "bgnbd",
        PURCHASE,
        dates,
        OBSERVATION_END,
        time_unit="W",
        spend_params=SPEND,
        random_state=rng,
    )
    tx = sim.transactions
    tx = tx.iloc[np.argsort(tx["date"].to_numpy(), kind="stable")].reset_index(drop=True)
    return tx


def to_arrow(tx: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array(tx["customer_id"].to_numpy(np.int64)),
            "date": pa.array(tx["date"].to_numpy().astype("datetime64[us]")),
            "amount": pa.array(tx["amount"].to_numpy(np.float64)),
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000, help="customers per part")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--csv", action="store_true", help="also write one CSV file")
    args = parser.parse_args(argv)

    n_parts = -(-args.customers // args.chunk)
    size = min(args.chunk, args.customers)
    if args.customers % size:
        parser.error("--customers must be a multiple of --chunk")
    tag = f"{args.customers // 1_000_000}m" if args.customers >= 1_000_000 else str(args.customers)
    args.out.mkdir(parents=True, exist_ok=True)
    single = n_parts == 1
    target = args.out / (f"log_{tag}.parquet" if single else f"log_{tag}")
    if not single:
        target.mkdir(exist_ok=True)
    csv_path = args.out / f"log_{tag}.csv"
    rows = 0
    started = time.perf_counter()
    for k in range(n_parts):
        tx = simulate_chunk(k, size, args.seed)
        table = to_arrow(tx)
        rows += table.num_rows
        pq.write_table(table, target if single else target / f"part-{k:04d}.parquet")
        if args.csv:
            import polars as pl

            frame = pl.from_arrow(table)
            with open(csv_path, "a" if k else "w") as handle:
                frame.write_csv(handle, include_header=k == 0, datetime_format="%Y-%m-%d %H:%M:%S")
        del tx, table
        print(
            f"part {k + 1}/{n_parts}: {rows:,} rows so far, {time.perf_counter() - started:.1f} s"
        )
    print(f"{args.customers:,} customers, {rows:,} transactions -> {target}")


if __name__ == "__main__":
    main()
