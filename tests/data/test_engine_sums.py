"""Money in an engine's log is summed as whole micro-units, in float64 while no sum can reach
2**53 and in int64 beyond: both give the same bits."""

from __future__ import annotations

import narwhals.stable.v2 as nw
import pandas as pd
import pytest
from engine_frames import on_engine, to_pandas

import clvpredict as cp
from clvpredict.data import TransactionLog, _engine_log


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cp.datasets.load_cdnow()


@pytest.mark.parametrize("engine", ["polars-lazy", "pyarrow", "duckdb"])
def test_float_and_integer_sums_give_the_same_summary(cdnow, engine, monkeypatch):
    options = dict(
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="W",
    )

    def summary():
        log = TransactionLog(on_engine(cdnow, engine), "customer_id", "date", "amount")
        out = cp.calibration_holdout_summary(log, **options)
        return log.daily.collect_schema()["amount"], to_pandas(out, "customer_id")

    # CDNOW's absolute total (about 1e5 dollars) is far below the bound: sums are float64.
    assert _engine_log._whole_numbers(len(cdnow), float(cdnow["amount"].abs().sum())).is_float()
    float_type, in_float = summary()
    # A bound of one micro-unit makes every log too large for float64 sums: int64 ones.
    monkeypatch.setattr(_engine_log, "_EXACT_IN_FLOAT", 1.0)
    assert not _engine_log._whole_numbers(1, 0.0).is_float()
    integer_type, in_integers = summary()
    # DuckDB adds int64 in 128 bits, which narwhals reads as Decimal(38, 0).
    assert float_type == nw.Float64 and not integer_type.is_float()
    pd.testing.assert_frame_equal(in_float, in_integers, check_exact=True)
    assert in_float["monetary_value_holdout"].notna().any()
