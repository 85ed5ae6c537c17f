"""Shared fixtures: the public reference data and models fitted on it (once per session)."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

import clvpredict as cp

# Plots in tests never open windows.
matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

# Property-test profiles (tests/test_properties.py says when to use which). "ci", the default,
# replays the same few examples on every run so that the suite is fast and never flaky;
# "thorough" explores thousands of fresh examples per property and keeps the failing ones in
# .hypothesis/ (git-ignored) so that the next run tries them first. Choose with
# CLVPREDICT_HYPOTHESIS=thorough or pytest's --hypothesis-profile=thorough.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    deadline=None,
    derandomize=False,
    database=DirectoryBasedExampleDatabase(REPO / ".hypothesis" / "examples"),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("CLVPREDICT_HYPOTHESIS", "ci"))


def reference_file(name: str) -> Path:
    """The published file from ../shared/data when present, else the repo's copy in data/."""
    shared = SHARED / name
    return shared if shared.is_file() else REPO / "data" / name


@pytest.fixture(scope="session")
def cdnow_tx() -> pd.DataFrame:
    return cp.datasets.load_cdnow("sample")


@pytest.fixture(scope="session")
def cdnow_published() -> pd.DataFrame:
    """Published summary (ID, x, t_x, T, zbar), weeks, 39-week calibration."""
    return pd.read_csv(reference_file("cdnow_customers_summary_with_transactions.csv"))


@pytest.fixture(scope="session")
def cdnow_summary() -> pd.DataFrame:
    return cp.datasets.load_cdnow_summary()


@pytest.fixture(scope="session")
def bg_cdnow(cdnow_summary) -> cp.BetaGeoModel:
    return cp.BetaGeoModel().fit(cdnow_summary)


@pytest.fixture(scope="session")
def gg_cdnow(cdnow_summary) -> cp.GammaGammaModel:
    return cp.GammaGammaModel().fit(cdnow_summary)


@pytest.fixture(scope="session")
def cdnow_cal_holdout(cdnow_tx) -> pd.DataFrame:
    return cp.calibration_holdout_summary(
        cdnow_tx,
        "customer_id",
        "date",
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        monetary_value_col="amount",
        time_unit="W",
    )


@pytest.fixture(scope="session")
def spark():
    """One small local Spark session for the whole run (pyspark is in the dev extra, Java 17 on
    every CI machine: a missing one fails the Spark tests rather than skipping them).

    Two cores and 1 GB, two shuffle partitions (the default 200 only adds tasks on small data),
    no web UI. The session's time zone, in which Spark takes the calendar day of a zoned
    timestamp, is UTC unless a test sets another.
    Arrow carries every pandas conversion, with no silent fallback to the row-by-row path (which
    turns missing text into the string 'nan' on pandas 3). Python workers run this interpreter.
    The JVM compiles hot code with its quick compiler only and collects garbage on one thread:
    the tests' many small queries never run long enough to repay the optimising compiler, whose
    threads cost the Java process 40% more CPU time over a refresh of CDNOW (the queries and
    their results are the same).
    """
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        session = (
            SparkSession.builder.master("local[2]")
            .appName("clvpredict-tests")
            .config("spark.driver.memory", "1g")
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.sql.adaptive.enabled", "false")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


_PACKAGE_LOGGER = logging.getLogger("clvpredict")
#: The package logger as the library leaves it, taken before any test can run the CLI.
_PRISTINE_LOGGER = (
    list(_PACKAGE_LOGGER.handlers),
    _PACKAGE_LOGGER.level,
    _PACKAGE_LOGGER.propagate,
)


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """Tests that call the command line in-process (cli.main), in a test or in a module-scoped
    fixture, configure the "clvpredict" logger as a CLI process would: its own stderr handler
    and no propagation. Each test starts from, and leaves, the library's own state, or later
    tests' caplog, which listens at the root logger, would hear nothing."""
    logger = _PACKAGE_LOGGER
    handlers, level, propagate = _PRISTINE_LOGGER
    logger.handlers[:], logger.level, logger.propagate = list(handlers), level, propagate
    yield
    logger.handlers[:], logger.level, logger.propagate = list(handlers), level, propagate
