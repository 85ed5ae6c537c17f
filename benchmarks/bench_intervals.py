"""Speed and memory of CLV intervals: ``clv_table(..., interval=0.9, n_draws=200)``.

For each purchase model (BG/NBD, MBG/NBD, Pareto/NBD, each with a Gamma-Gamma spend model) and
each data kind, the script times the CLV table with a 90% parameter-uncertainty interval, which
recomputes every customer's CLV for 200 joint parameter draws of both models. In the same run it
times clvpredict's point CLV and lifetimes' point CLV (``GammaGammaFitter.customer_lifetime_value``)
on the same data. lifetimes has no CLV intervals, so the ratio reported is "our interval time /
lifetimes' point time": how much more an interval costs than lifetimes' single estimate.

Data kinds
----------
``cdnow``
    Customers drawn with replacement from the published CDNOW summary (2,357 customers, weeks).
    Many rows repeat, and the interval code evaluates each distinct history once, so this is the
    realistic best case for rounded data.
``simulated``
    Distinct customers drawn from each purchase model itself at the published CDNOW estimates
    (``Model.from_params(..., time_unit="W").simulate``, observed for ``T ~ Uniform(27, 39)``
    weeks), with mean spends drawn from the Gamma-Gamma model at its published estimates
    (:func:`clvpredict.simulation.simulate_gamma_gamma`). No row repeats: the worst case.

Both models are fitted on the data first (untimed); the intervals need the fitted covariance.

Measurements
------------
* Time: ``time.perf_counter`` (wall) and ``time.process_time`` (CPU of the process, all threads)
  around the complete call, after one small warm-up run of every model and library. Each call is
  repeated ``--repeats`` times; the minimum wall time is reported next to the median.

  - *interval*: ``clv_table(purchase, spend, data, lifetime_years=2, interval=0.9,
    n_draws=200, random_state=seed)``. It includes the table's point columns (P(alive),
    expected purchases, point CLV, simple CLV), which take a small share of the time.
  - *point*: ``predictive_clv(purchase, spend, data)``, clvpredict's point CLV alone.
  - *lifetimes point*: ``GammaGammaFitter.customer_lifetime_value`` with a lifetimes fitter of
    the same purchase model carrying clvpredict's fitted parameters (``params_`` set, not
    refitted), 12 months, a monthly discount rate of 1% (clvpredict gets the equivalent annual
    rate ``1.01**12 - 1``), ``freq="W"``.
  - *generic* (``--generic``, Pareto/NBD by default): the same interval with the model's fast
    evaluators replaced by :class:`~clvpredict._base.BaseModel`'s generic ones, which call the
    public ``expected_purchases`` once per monthly horizon and draw. Its bounds must equal the
    fast path's (the script prints the largest relative difference).

* Memory: ``tracemalloc`` peak during one extra, untimed call, above the traced memory at its
  start. It sees every numpy array and Python object, not native buffers inside OpenBLAS or
  scipy's compiled code (negligible here). It is a separate call because tracing slows
  allocation-heavy code down.
* Checks, so that a fast but wrong result cannot look like a win: the share of customers whose
  point CLV lies inside its interval, and the relative difference between clvpredict's and
  lifetimes' point CLV. The two differ by design by about 0.07%: lifetimes' month is 4.345
  weeks, clvpredict's 30.436875 days (4.3481 weeks).

Run ``python benchmarks/bench_intervals.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import resource
import statistics
import sys
import time
import tracemalloc
import types
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_fit import machine_description
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

import clvpredict as cp
from clvpredict.data.datasets import load_cdnow_summary
from clvpredict.models._base import BaseModel
from clvpredict.simulation import simulate_gamma_gamma

#: Published CDNOW estimates (weeks): the parameters that generate the simulated customers.
TRUE_PARAMS: dict[str, dict[str, float]] = {
    "bgnbd": {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "paretonbd": {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668},
}
#: Gamma-Gamma estimates of Fader, Hardie & Lee (2005), CDNOW: the simulated mean spends.
SPEND_PARAMS: dict[str, float] = {"p": 6.25, "q": 3.74, "gamma": 15.44}
MODELS: dict[str, type] = {
    "bgnbd": cp.BetaGeoModel,
    "mbgnbd": cp.ModifiedBetaGeoModel,
    "paretonbd": cp.ParetoNBDModel,
}
LIFETIMES_FITTERS: dict[str, type] = {
    "bgnbd": BetaGeoFitter,
    "mbgnbd": ModifiedBetaGeoFitter,
    "paretonbd": ParetoNBDFitter,
}
KINDS = ("cdnow", "simulated")
DEFAULT_SIZE = 100_000
QUICK_SIZE = 10_000
#: lifetimes' customer_lifetime_value takes a monthly discount rate; clvpredict an annual one.
MONTHLY_DISCOUNT = 0.01
ANNUAL_DISCOUNT = (1.0 + MONTHLY_DISCOUNT) ** 12 - 1.0
HORIZON_MONTHS = 12
LIFETIME_YEARS = 2.0  # only for the table's simple-CLV column
#: Largest relative difference between the fast and the generic interval bounds accepted as
#: "the same" (both evaluate the same formulas; they agree to rounding).
GENERIC_RTOL = 1e-10


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def _with_order_value(data: pd.DataFrame) -> pd.DataFrame:
    """Add ``avg_order_value`` (needed by the table's simple-CLV column; not by the intervals).

    The mean repeat spend where there is one, the Gamma-Gamma population mean elsewhere.
    """
    population_mean = SPEND_PARAMS["p"] * SPEND_PARAMS["gamma"] / (SPEND_PARAMS["q"] - 1.0)
    data["avg_order_value"] = data["monetary_value"].fillna(population_mean)
    return data


def sample_cdnow(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` customers drawn with replacement from the CDNOW summary (weeks, spend in dollars).

    Parameters
    ----------
    n : int
        Number of customers.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    DataFrame
        ``frequency``, ``recency``, ``T`` (weeks), ``monetary_value`` (dollars, NaN without
        repeat purchases) and ``avg_order_value``; ``attrs["time_unit"] == "W"``.
    """
    summary = load_cdnow_summary()
    rows = rng.integers(0, len(summary), size=n)
    data = summary.iloc[rows].reset_index(drop=True)
    data.attrs = dict(summary.attrs)
    return _with_order_value(data)


def simulate_customers(model: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` distinct customers simulated from ``model`` and the Gamma-Gamma model.

    Parameters
    ----------
    model : {"bgnbd", "mbgnbd", "paretonbd"}
        The purchase model that generates purchases, at :data:`TRUE_PARAMS`.
    n : int
        Number of customers.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    DataFrame
        As :func:`sample_cdnow`; ``T ~ Uniform(27, 39)`` weeks like the CDNOW cohort.
    """
    truth = MODELS[model].from_params(TRUE_PARAMS[model], time_unit="W")
    data = truth.simulate(rng.uniform(27.0, 39.0, size=n), random_state=rng)
    spend = simulate_gamma_gamma(**SPEND_PARAMS, frequency=data["frequency"], random_state=rng)
    data["monetary_value"] = spend["monetary_value"].to_numpy()
    return _with_order_value(data)


def make_data(kind: str, model: str, n: int, seed: int) -> pd.DataFrame:
    """One data set; the seed depends on kind, model and size so each is reproducible alone.

    The CDNOW sample is the same for every model (its seed does not depend on the model).
    """
    if kind == "cdnow":
        return sample_cdnow(n, np.random.default_rng([seed, 0, n]))
    return simulate_customers(
        model, n, np.random.default_rng([seed, 1, list(MODELS).index(model), n])
    )


def distinct_rows(data: pd.DataFrame) -> int:
    """Distinct (frequency, recency, T, monetary_value): the rows the interval code evaluates."""
    table = data[["frequency", "recency", "T", "monetary_value"]].fillna(-1.0).to_numpy(float)
    return len(np.unique(table, axis=0))


# ------------------------------------------------------------------------------------------------
# The calls measured
# ------------------------------------------------------------------------------------------------


def interval_table(purchase: Any, spend: Any, data: pd.DataFrame, draws: int, seed: int):
    """The measured call: the CLV table with a 90% interval from ``draws`` parameter draws."""
    return cp.clv_table(
        purchase,
        spend,
        data,
        lifetime_years=LIFETIME_YEARS,
        horizon_months=HORIZON_MONTHS,
        annual_discount_rate=ANNUAL_DISCOUNT,
        interval=0.9,
        n_draws=draws,
        random_state=seed,
    )


def point_clv(purchase: Any, spend: Any, data: pd.DataFrame) -> pd.Series:
    """clvpredict's point CLV with the settings of :func:`lifetimes_clv`."""
    return cp.predictive_clv(
        purchase,
        spend,
        data,
        horizon_months=HORIZON_MONTHS,
        annual_discount_rate=ANNUAL_DISCOUNT,
    )


def lifetimes_models(model: str, purchase: Any, spend: Any) -> tuple[Any, GammaGammaFitter]:
    """lifetimes fitters carrying clvpredict's fitted parameters (set, not refitted)."""
    fitter = LIFETIMES_FITTERS[model]()
    fitter.params_ = purchase.params_.copy()
    if not hasattr(fitter, "predict"):
        # lifetimes' ParetoNBDFitter lacks the alias its own customer_lifetime_value calls.
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    gg = GammaGammaFitter()
    gg.params_ = pd.Series(
        {"p": spend.params_["p"], "q": spend.params_["q"], "v": spend.params_["gamma"]}
    )
    return fitter, gg


def lifetimes_clv(fitter: Any, gg: GammaGammaFitter, data: pd.DataFrame) -> pd.Series:
    """lifetimes' point CLV; a customer without repeat purchases gets spend 0 (lifetimes' own
    convention, for which its Gamma-Gamma returns the population mean)."""
    return gg.customer_lifetime_value(
        fitter,
        data["frequency"],
        data["recency"],
        data["T"],
        data["monetary_value"].fillna(0.0),
        time=HORIZON_MONTHS,
        discount_rate=MONTHLY_DISCOUNT,
        freq="W",
    )


def with_generic_evaluators(purchase: Any) -> Any:
    """A copy of ``purchase`` whose CLV intervals call ``expected_purchases`` once per horizon."""
    clone = copy.copy(purchase)
    clone._cumulative_purchases = types.MethodType(BaseModel._cumulative_purchases, clone)
    clone._cumulative_purchases_planner = types.MethodType(
        BaseModel._cumulative_purchases_planner, clone
    )
    return clone


# ------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Repeated timings of one call, and its traced memory peak."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_mib: float | None = None

    @property
    def wall(self) -> float | None:
        """Minimum wall time over the repeats."""
        return min(self.wall_s) if self.wall_s else None

    @property
    def cpu(self) -> float | None:
        """CPU time of the repeat with the minimum wall time."""
        return self.cpu_s[self.wall_s.index(min(self.wall_s))] if self.wall_s else None

    @property
    def median(self) -> float | None:
        """Median wall time over the repeats."""
        return statistics.median(self.wall_s) if self.wall_s else None


def measure(call: Callable[[], Any], repeats: int, with_memory: bool) -> tuple[Timing, Any]:
    """Time ``repeats`` calls, then (optionally) one traced call; return the timing and a result."""
    out = Timing()
    result = None
    for _ in range(repeats):
        # Garbage from earlier calls is collected now, not inside the timed region.
        gc.collect()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = call()
        wall1, cpu1 = time.perf_counter(), time.process_time()
        out.wall_s.append(wall1 - wall0)
        out.cpu_s.append(cpu1 - cpu0)
    if with_memory:
        gc.collect()
        tracemalloc.start()
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        call()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.peak_mib = (peak - start) / 2**20
    return out, result


@dataclass
class CaseResult:
    """All measurements for one (data kind, purchase model)."""

    kind: str
    model: str
    n: int
    distinct_rows: int
    draws: int
    interval: Timing
    point: Timing
    lifetimes: Timing
    generic: Timing | None = None
    generic_max_rel_diff: float | None = None
    share_point_inside_interval: float = float("nan")
    lifetimes_rel_diff_median: float = float("nan")
    lifetimes_rel_diff_max: float = float("nan")
    lifetimes_nonfinite: int = 0
    params: dict[str, float] = field(default_factory=dict)

    def ratio_to_lifetimes(self) -> float | None:
        """Our interval wall time / lifetimes' point wall time."""
        if self.interval.wall is None or not self.lifetimes.wall:
            return None
        return self.interval.wall / self.lifetimes.wall

    def generic_speedup(self) -> float | None:
        """Generic-evaluator interval wall time / fast interval wall time."""
        if self.generic is None or self.generic.wall is None or not self.interval.wall:
            return None
        return self.generic.wall / self.interval.wall


def run_case(
    kind: str,
    model: str,
    n: int,
    seed: int,
    draws: int,
    repeats: int,
    with_memory: bool,
    generic: bool,
) -> CaseResult:
    """Generate the data, fit both models (untimed), then measure every call."""
    data = make_data(kind, model, n, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        purchase = MODELS[model]().fit(data)
        spend = cp.GammaGammaModel().fit(data)
    interval, table = measure(
        lambda: interval_table(purchase, spend, data, draws, seed), repeats, with_memory
    )
    point, ours = measure(lambda: point_clv(purchase, spend, data), repeats, False)
    fitter, gg = lifetimes_models(model, purchase, spend)
    with warnings.catch_warnings():
        # lifetimes triggers pandas deprecation warnings that say nothing about the result.
        warnings.simplefilter("ignore")
        theirs_timing, theirs = measure(
            lambda: lifetimes_clv(fitter, gg, data), repeats, with_memory
        )
    res = CaseResult(
        kind=kind,
        model=model,
        n=n,
        distinct_rows=distinct_rows(data),
        draws=draws,
        interval=interval,
        point=point,
        lifetimes=theirs_timing,
        params={k: float(v) for k, v in purchase.params_.items()},
    )
    lower, upper = table["predictive_clv_lower"], table["predictive_clv_upper"]
    value = table["predictive_clv"]
    res.share_point_inside_interval = float(((lower <= value) & (value <= upper)).mean())
    theirs = theirs.to_numpy(dtype=float)
    ours = ours.to_numpy(dtype=float)
    finite = np.isfinite(theirs) & (np.abs(theirs) > 0)
    res.lifetimes_nonfinite = int((~np.isfinite(theirs)).sum())
    if finite.any():
        rel = np.abs(ours[finite] - theirs[finite]) / np.abs(theirs[finite])
        res.lifetimes_rel_diff_median = float(np.median(rel))
        res.lifetimes_rel_diff_max = float(np.max(rel))
    if generic:
        slow = with_generic_evaluators(purchase)
        res.generic, reference = measure(
            lambda: interval_table(slow, spend, data, draws, seed), 1, False
        )
        cols = ["predictive_clv", "predictive_clv_lower", "predictive_clv_upper"]
        a, b = table[cols].to_numpy(), reference[cols].to_numpy()
        res.generic_max_rel_diff = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
    return res


def warm_up(seed: int) -> None:
    """One small run per model and library: imports and first-call costs are not measured."""
    for model in MODELS:
        data = make_data("cdnow", model, 2_357, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            purchase = MODELS[model]().fit(data)
            spend = cp.GammaGammaModel().fit(data)
            interval_table(purchase, spend, data, 4, seed)
            point_clv(purchase, spend, data)
            lifetimes_clv(*lifetimes_models(model, purchase, spend), data)


# ------------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def describe_timing(name: str, t: Timing) -> str:
    """One line for one measured call."""
    return (
        f"  {name:<26} wall {t.wall:8.3f} s (min of {len(t.wall_s)}, median {t.median:.3f} s), "
        f"cpu {t.cpu:8.3f} s, peak traced memory {_fmt(t.peak_mib, '.1f', ' MiB')}"
    )


def describe_case(res: CaseResult) -> str:
    """Text block for one (kind, model)."""
    lines = [
        f"[{res.kind} / {res.model}] n = {res.n:,} customers, {res.distinct_rows:,} distinct "
        f"rows, {res.draws} draws; fitted "
        + ", ".join(f"{k}={v:.4g}" for k, v in res.params.items()),
        describe_timing("clvpredict interval", res.interval),
        describe_timing("clvpredict point", res.point),
        describe_timing("lifetimes point", res.lifetimes),
    ]
    if res.generic is not None:
        lines.append(describe_timing("clvpredict interval generic", res.generic))
        verdict = "SAME" if res.generic_max_rel_diff <= GENERIC_RTOL else "DIFFERENT"
        lines.append(
            f"  fast / generic evaluator: {res.generic_speedup():.1f}x faster, largest relative "
            f"difference of the CLV and its bounds {res.generic_max_rel_diff:.1e} -> {verdict}"
        )
    lines.append(
        f"  interval / lifetimes point: {res.ratio_to_lifetimes():.2f}x the time; point CLV "
        f"inside its interval for {res.share_point_inside_interval:.1%} of customers"
    )
    lines.append(
        f"  point CLV vs lifetimes: median relative difference {res.lifetimes_rel_diff_median:.1e}"
        f", max {res.lifetimes_rel_diff_max:.1e} (month 4.3481 vs 4.345 weeks), "
        f"{res.lifetimes_nonfinite} non-finite in lifetimes"
    )
    return "\n".join(lines)


def markdown_table(results: list[CaseResult]) -> str:
    """The summary table, ready for benchmarks/README.md."""
    rows = [
        "| data | model | customers | distinct rows | interval wall (s) | interval cpu (s) "
        "| interval peak (MiB) | point wall (s) | lifetimes point wall (s) "
        "| interval / lifetimes point | generic interval wall (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        generic = "-" if res.generic is None else f"{res.generic.wall:.1f}"
        rows.append(
            f"| {res.kind} | {res.model} | {res.n:,} | {res.distinct_rows:,} "
            f"| {res.interval.wall:.2f} | {res.interval.cpu:.2f} "
            f"| {_fmt(res.interval.peak_mib, '.0f')} | {res.point.wall:.3f} "
            f"| {res.lifetimes.wall:.3f} | {_fmt(res.ratio_to_lifetimes(), '.1f', 'x')} "
            f"| {generic} |"
        )
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Time and memory of clv_table(..., interval=0.9) for BG/NBD, MBG/NBD and "
        "Pareto/NBD, against lifetimes' point CLV on the same data."
    )
    parser.add_argument(
        "--size",
        type=lambda s: int(s.replace(",", "")),
        default=None,
        help=f"number of customers (default {DEFAULT_SIZE:,}; {QUICK_SIZE:,} with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_SIZE:,} customers, one repeat, no generic run: a smoke run",
    )
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="purchase models"
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="data kinds to run"
    )
    parser.add_argument("--draws", type=int, default=200, help="parameter draws (default 200)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls per measurement; the minimum is reported (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--generic",
        nargs="*",
        choices=list(MODELS),
        default=None,
        help="models whose interval is also timed with the generic evaluators, once (default "
        "paretonbd; none with --quick; give the flag alone for none)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the extra tracemalloc call per measurement"
    )
    parser.add_argument("--seed", type=int, default=20261125, help="random seed (default fixed)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = QUICK_SIZE if args.quick else DEFAULT_SIZE
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.generic is None:
        args.generic = [] if args.quick else ["paretonbd"]
    if args.repeats < 1 or args.size < 1 or args.draws < 2:
        parser.error("--repeats and --size must be positive and --draws at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report; exit status 1 if a check failed."""
    args = parse_args(argv)
    machine = machine_description()
    print("CLV interval benchmark: clv_table(..., interval=0.9) vs lifetimes' point CLV")
    for key, value in machine.items():
        print(f"  {key}: {value}")
    print(
        f"  size {args.size:,}, kinds {args.kinds}, models {args.models}, draws {args.draws}, "
        f"repeats {args.repeats}, generic evaluators for {args.generic or 'none'}, seed "
        f"{args.seed}, memory via tracemalloc: {'no' if args.no_memory else 'yes'}"
    )
    print()
    warm_up(args.seed)
    results: list[CaseResult] = []
    started = time.perf_counter()
    for kind in args.kinds:
        for model in args.models:
            res = run_case(
                kind,
                model,
                args.size,
                args.seed,
                args.draws,
                args.repeats,
                not args.no_memory,
                model in args.generic,
            )
            results.append(res)
            print(describe_case(res), flush=True)
            print()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"total benchmark time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{os.getloadavg()}; peak resident memory of the whole process {max_rss:.0f} MiB"
    )
    print()
    print(markdown_table(results))
    if args.json is not None:
        payload = {
            "machine": machine,
            "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "process_max_rss_mib": max_rss,
            "results": [
                {
                    **asdict(res),
                    "ratio_interval_to_lifetimes_point": res.ratio_to_lifetimes(),
                    "generic_speedup": res.generic_speedup(),
                }
                for res in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    # A benchmark whose fast and generic bounds differ, or whose point CLV is far from
    # lifetimes', measured nothing useful: make that visible to scripts too.
    failed = any(
        (res.generic_max_rel_diff is not None and res.generic_max_rel_diff > GENERIC_RTOL)
        or not res.lifetimes_rel_diff_median < 1e-2
        for res in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
