"""Speed and memory of fitting BG/NBD: clvpredict against lifetimes on the same data.

For every data kind and size, both libraries fit the same arrays in the same process. The script
prints wall and CPU time, peak memory, the ratios lifetimes / clvpredict, and checks that both
fits reach the same optimum (parameters and log-likelihood), so that a fast but wrong fit cannot
look like a win.

Data kinds
----------
``cdnow``
    Rows drawn with replacement from the published CDNOW summary (2,357 customers, weeks). Many
    rows repeat, so clvpredict's compression of identical rows helps a lot: the realistic best
    case for discrete, rounded data.
``simulated``
    Customers drawn from the BG/NBD model itself in continuous time (see :func:`simulate_bgnbd`):
    every row is distinct, compression gives nothing, and the comparison measures the likelihood
    code and the optimiser alone.

Measurements
------------
* Time: ``time.perf_counter`` (wall) and ``time.process_time`` (CPU of the whole process, all
  threads) around the complete ``fit`` call, constructor included, after one warm-up fit of each
  library so that imports and first-call set-up are not counted. Each fit is repeated
  ``--repeats`` times; the minimum is reported (the least disturbed by other load on the
  machine) next to the median.
* Memory: ``tracemalloc`` peak during one extra, untimed fit, above the traced memory at its
  start. tracemalloc sees every allocation made through Python's and numpy's allocators (all
  numpy arrays, autograd's tape), but not native buffers of OpenBLAS or of Fortran/C code inside
  scipy; for these fits with four parameters those are negligible. It is a separate fit because
  tracing slows allocation-heavy code down.
* Agreement: the log-likelihood of both parameter sets is re-evaluated on the same data with this
  script's own implementation of FHL (2005) eq. 6, independent of both libraries.

Run ``python benchmarks/bench_fit.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lifetimes
import numpy as np
import pandas as pd
import scipy
from lifetimes import BetaGeoFitter
from scipy import special

import clvpredict
from clvpredict import BetaGeoModel
from clvpredict.data.datasets import load_cdnow_summary

#: Parameters that generate the simulated customers: close to the published CDNOW estimates
#: (weeks), so both data kinds look alike.
TRUE_PARAMS: dict[str, float] = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARAM_NAMES = ("r", "alpha", "a", "b")
DEFAULT_SIZES = (2_357, 200_000, 1_000_000)
QUICK_SIZES = (2_357, 20_000)
KINDS = ("cdnow", "simulated")
#: lifetimes fits 1,000,000 customers in tens of seconds on the reference machine, so the default
#: keeps every size; lower it where lifetimes is slower (see ``--lifetimes-max-n``).
DEFAULT_LIFETIMES_MAX_N = 1_000_000
#: Relative log-likelihood difference below which the two fits count as the same optimum. Both
#: libraries stop on gradient tolerances, so they agree to far better than this when both are right.
LL_RTOL = 1e-7
#: Largest relative parameter difference accepted as the same optimum (the likelihood is flat in
#: some directions, so parameters agree less tightly than the log-likelihood).
PARAM_RTOL = 1e-3


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


@dataclass
class RFM:
    """One data set: repeat purchases, time of last purchase and observation length (weeks)."""

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray

    def __len__(self) -> int:
        return len(self.frequency)

    def distinct_rows(self) -> int:
        """Number of distinct (frequency, recency, T) rows; what compression can shrink to."""
        table = np.column_stack([self.frequency, self.recency, self.T])
        return len(np.unique(table, axis=0))


def sample_cdnow(n: int, rng: np.random.Generator) -> RFM:
    """Draw ``n`` customers with replacement from the CDNOW summary.

    Parameters
    ----------
    n : int
        Number of customers.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    RFM
        Frequency, recency and T in weeks.
    """
    summary = load_cdnow_summary()
    rows = rng.integers(0, len(summary), size=n)
    return RFM(
        frequency=summary["frequency"].to_numpy(dtype=float)[rows],
        recency=summary["recency"].to_numpy(dtype=float)[rows],
        T=summary["T"].to_numpy(dtype=float)[rows],
    )


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    rng: np.random.Generator,
    t_low: float = 27.0,
    t_high: float = 39.0,
) -> RFM:
    """Simulate customers from the BG/NBD model, purchase by purchase, in continuous time.

    Each customer gets a purchase rate ``lambda ~ Gamma(shape r, rate alpha)`` and a dropout
    probability ``p ~ Beta(a, b)``. The first purchase is at time 0 and the customer is alive then.
    Inter-purchase times are Exponential(``lambda``). After each repeat purchase the customer
    drops out with probability ``p`` (no dropout at time 0: in the BG/NBD likelihood a customer
    without repeat purchases is alive at ``T`` with certainty). Observation ends at
    ``T ~ Uniform(t_low, t_high)``, like the CDNOW cohort's 27 to 39 weeks.

    Parameters
    ----------
    n : int
        Number of customers.
    r, alpha, a, b : float
        BG/NBD parameters (``alpha`` in weeks, the unit of ``T``).
    rng : numpy.random.Generator
        Source of randomness.
    t_low, t_high : float
        Range of the observation lengths.

    Returns
    -------
    RFM
        ``frequency`` = repeat purchases in (0, T], ``recency`` = time of the last purchase (0
        without repeat purchases), ``T``.
    """
    big_t = rng.uniform(t_low, t_high, size=n)
    # numpy's gamma takes a scale, the inverse of the model's rate.
    lam = rng.gamma(shape=r, scale=1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    frequency = np.zeros(n)
    recency = np.zeros(n)
    clock = np.zeros(n)
    # One round per purchase number, over the customers still alive and inside their window:
    # vectorised across customers, and the set shrinks quickly (most buy a few times at most).
    active = np.arange(n)
    while active.size:
        next_time = clock[active] + rng.exponential(size=active.size) / lam[active]
        inside = next_time <= big_t[active]
        active, next_time = active[inside], next_time[inside]
        clock[active] = next_time
        recency[active] = next_time
        frequency[active] += 1
        survives = rng.random(active.size) >= p[active]
        active = active[survives]
    return RFM(frequency=frequency, recency=recency, T=big_t)


def make_data(kind: str, n: int, seed: int) -> RFM:
    """Data set of one kind and size; the seed depends on both so each is reproducible alone."""
    rng = np.random.default_rng([seed, KINDS.index(kind), n])
    if kind == "cdnow":
        return sample_cdnow(n, rng)
    return simulate_bgnbd(n, **TRUE_PARAMS, rng=rng)


# ------------------------------------------------------------------------------------------------
# Independent check of the optimum
# ------------------------------------------------------------------------------------------------


def bgnbd_total_log_likelihood(params: dict[str, float], data: RFM) -> float:
    """Total BG/NBD log-likelihood of ``data`` (FHL 2005, eq. 6), written here independently.

    Uses the form ``A * (alpha+T)^-(r+x) * [1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)]``
    with ``A = Gamma(r+x) alpha^r / Gamma(r) * B(a, b+x) / B(a, b)``; the bracket is summed in
    log space so that heavy buyers do not overflow.

    Parameters
    ----------
    params : dict
        ``r``, ``alpha``, ``a``, ``b``.
    data : RFM
        The customers.

    Returns
    -------
    float
        Sum of the individual log-likelihoods.
    """
    r, alpha, a, b = (float(params[k]) for k in PARAM_NAMES)
    x, t_x, big_t = data.frequency, data.recency, data.T
    log_a = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
    )
    repeat = x > 0
    # b + x - 1 is only used where x >= 1; 1.0 keeps the log finite elsewhere.
    log_ratio = np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0))
    log_ratio = log_ratio + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
    bracket = np.where(repeat, np.logaddexp(0.0, log_ratio), 0.0)
    return float(np.sum(log_a - (r + x) * np.log(alpha + big_t) + bracket))


# ------------------------------------------------------------------------------------------------
# Fitting and measuring
# ------------------------------------------------------------------------------------------------


@dataclass
class FitMeasure:
    """What one library did on one data set."""

    library: str
    status: str = "ok"  # "ok", "skipped", "failed"
    reason: str = ""
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_mib: float | None = None
    params: dict[str, float] = field(default_factory=dict)
    log_likelihood: float | None = None  # re-evaluated by this script
    reported_log_likelihood: float | None = None  # what the library says (clvpredict only)
    converged: bool | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float | None:
        """Minimum wall time over the repeats."""
        return min(self.wall_s) if self.wall_s else None

    @property
    def cpu(self) -> float | None:
        """CPU time of the repeat with the minimum wall time."""
        return self.cpu_s[self.wall_s.index(min(self.wall_s))] if self.wall_s else None


def fit_clvpredict(data: RFM) -> tuple[dict[str, float], float, bool]:
    """Fit clvpredict's BG/NBD; return parameters, its log-likelihood and its convergence flag."""
    model = BetaGeoModel(time_unit="W").fit(
        frequency=data.frequency, recency=data.recency, T=data.T
    )
    params = {k: float(model.params_[k]) for k in PARAM_NAMES}
    return params, float(model.log_likelihood_), bool(model.converged_)


def fit_lifetimes(data: RFM) -> tuple[dict[str, float], None, bool]:
    """Fit lifetimes' BG/NBD without penalty; lifetimes raises when it does not converge."""
    model = BetaGeoFitter(penalizer_coef=0.0).fit(data.frequency, data.recency, data.T)
    params = {k: float(model.params_[k]) for k in PARAM_NAMES}
    return params, None, True


FITTERS: dict[str, Callable[[RFM], tuple[dict[str, float], float | None, bool]]] = {
    "clvpredict": fit_clvpredict,
    "lifetimes": fit_lifetimes,
}


def measure(library: str, data: RFM, repeats: int, with_memory: bool) -> FitMeasure:
    """Time ``repeats`` fits, then (optionally) one traced fit for the memory peak."""
    fitter = FITTERS[library]
    out = FitMeasure(library=library)
    try:
        for _ in range(repeats):
            # Collect garbage from earlier fits now, not inside the timed region.
            gc.collect()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                wall0, cpu0 = time.perf_counter(), time.process_time()
                params, reported_ll, converged = fitter(data)
                wall1, cpu1 = time.perf_counter(), time.process_time()
            out.wall_s.append(wall1 - wall0)
            out.cpu_s.append(cpu1 - cpu0)
        # lifetimes triggers numpy/pandas deprecation warnings that say nothing about the fit.
        out.warnings = sorted(
            {
                f"{w.category.__name__}: {str(w.message)[:160]}"
                for w in caught
                if not issubclass(w.category, DeprecationWarning | FutureWarning)
            }
        )
        if with_memory:
            gc.collect()
            tracemalloc.start()
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitter(data)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            out.peak_mib = (peak - start) / 2**20
    except Exception as exc:  # a failed fit is a result to report, not a crash of the benchmark
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        out.status = "failed"
        out.reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        return out
    out.params = params
    out.reported_log_likelihood = reported_ll
    out.converged = converged
    out.log_likelihood = bgnbd_total_log_likelihood(params, data)
    return out


@dataclass
class CaseResult:
    """Both libraries on one (kind, size)."""

    kind: str
    n: int
    distinct_rows: int
    clvpredict: FitMeasure
    lifetimes: FitMeasure

    def both_ok(self) -> bool:
        """Whether both fits produced parameters."""
        return self.clvpredict.status == "ok" and self.lifetimes.status == "ok"

    def wall_ratio(self) -> float | None:
        """lifetimes wall time / clvpredict wall time (minimum over repeats of each)."""
        if not self.both_ok():
            return None
        return self.lifetimes.wall / self.clvpredict.wall

    def cpu_ratio(self) -> float | None:
        """lifetimes CPU time / clvpredict CPU time."""
        if not self.both_ok():
            return None
        return self.lifetimes.cpu / self.clvpredict.cpu

    def memory_ratio(self) -> float | None:
        """lifetimes peak memory / clvpredict peak memory."""
        c, lt = self.clvpredict.peak_mib, self.lifetimes.peak_mib
        if not self.both_ok() or c is None or lt is None or c <= 0:
            return None
        return lt / c

    def agreement(self) -> dict[str, float] | None:
        """Relative parameter and log-likelihood differences between the two optima."""
        if not self.both_ok():
            return None
        c, lt = self.clvpredict, self.lifetimes
        param_rel = max(abs(c.params[k] - lt.params[k]) / abs(lt.params[k]) for k in PARAM_NAMES)
        ll_diff = c.log_likelihood - lt.log_likelihood
        return {
            "max_param_rel_diff": param_rel,
            "ll_diff_clv_minus_lifetimes": ll_diff,
            "ll_rel_diff": abs(ll_diff) / abs(lt.log_likelihood),
        }

    def agrees(self) -> bool | None:
        """Same optimum within :data:`LL_RTOL` and :data:`PARAM_RTOL`."""
        agreement = self.agreement()
        if agreement is None:
            return None
        return agreement["ll_rel_diff"] < LL_RTOL and agreement["max_param_rel_diff"] < PARAM_RTOL


def run_case(
    kind: str, n: int, seed: int, repeats: int, lifetimes_max_n: int, with_memory: bool
) -> CaseResult:
    """Generate one data set and fit it with both libraries."""
    data = make_data(kind, n, seed)
    clv = measure("clvpredict", data, repeats, with_memory)
    if n > lifetimes_max_n:
        lt = FitMeasure(
            library="lifetimes",
            status="skipped",
            reason=f"n = {n:,} > --lifetimes-max-n = {lifetimes_max_n:,} (time budget)",
        )
    else:
        lt = measure("lifetimes", data, repeats, with_memory)
    return CaseResult(kind, n, data.distinct_rows(), clv, lt)


def warm_up() -> None:
    """One small fit per library: imports and first-call costs must not count as fitting time."""
    data = make_data("cdnow", 2_357, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fitter in FITTERS.values():
            fitter(data)


# ------------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def describe_fit(m: FitMeasure) -> str:
    """One block of text for one library's measurements."""
    name = f"{m.library:<11}"
    if m.status != "ok":
        return f"  {name} {m.status}: {m.reason}"
    median = statistics.median(m.wall_s)
    lines = [
        f"  {name} wall {m.wall:8.3f} s (min of {len(m.wall_s)}, median {median:.3f} s), "
        f"cpu {m.cpu:8.3f} s, peak traced memory {_fmt(m.peak_mib, '.1f', ' MiB')}",
        f"  {'':<11} params "
        + ", ".join(f"{k}={m.params[k]:.6g}" for k in PARAM_NAMES)
        + f"; log-likelihood {m.log_likelihood:.6f}"
        + (f"; converged={m.converged}" if m.library == "clvpredict" else ""),
    ]
    if m.reported_log_likelihood is not None:
        lines.append(
            f"  {'':<11} its own log_likelihood_ {m.reported_log_likelihood:.6f} "
            f"(differs from this script's by {m.reported_log_likelihood - m.log_likelihood:.2e})"
        )
    lines.extend(f"  {'':<11} warning: {w}" for w in m.warnings)
    return "\n".join(lines)


def describe_case(res: CaseResult) -> str:
    """Text block for one (kind, size)."""
    lines = [
        f"[{res.kind}] n = {res.n:,} customers, {res.distinct_rows:,} distinct rows",
        describe_fit(res.clvpredict),
        describe_fit(res.lifetimes),
    ]
    if res.both_ok():
        lines.append(
            f"  ratio lifetimes/clvpredict: wall {res.wall_ratio():.2f}x, "
            f"cpu {res.cpu_ratio():.2f}x, peak memory {_fmt(res.memory_ratio(), '.2f', 'x')}"
        )
        agreement = res.agreement()
        assert agreement is not None
        verdict = "SAME OPTIMUM" if res.agrees() else "DIFFERENT OPTIMA"
        lines.append(
            f"  agreement: max relative parameter difference "
            f"{agreement['max_param_rel_diff']:.2e}, log-likelihood clvpredict - lifetimes "
            f"{agreement['ll_diff_clv_minus_lifetimes']:+.3e} (relative "
            f"{agreement['ll_rel_diff']:.1e}) -> {verdict}"
        )
    else:
        lines.append("  ratios and agreement: not available (one fit did not run or failed)")
    if res.kind == "simulated" and res.clvpredict.status == "ok":
        errors = {
            k: (res.clvpredict.params[k] - TRUE_PARAMS[k]) / TRUE_PARAMS[k] for k in PARAM_NAMES
        }
        lines.append(
            "  simulator check, clvpredict estimate vs true parameters: "
            + ", ".join(f"{k} {v:+.1%}" for k, v in errors.items())
        )
    return "\n".join(lines)


def markdown_table(results: list[CaseResult]) -> str:
    """The summary table, ready for benchmarks/README.md."""
    head = (
        "| data | customers | distinct rows | clvpredict wall (s) | lifetimes wall (s) "
        "| wall ratio | cpu ratio | clvpredict peak (MiB) | lifetimes peak (MiB) "
        "| memory ratio | max rel. param diff | rel. LL diff |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = [head]
    for res in results:
        c, lt = res.clvpredict, res.lifetimes
        agreement = res.agreement()
        lt_wall = _fmt(lt.wall, ".3f") if lt.status == "ok" else lt.status
        rows.append(
            f"| {res.kind} | {res.n:,} | {res.distinct_rows:,} "
            f"| {_fmt(c.wall, '.3f') if c.status == 'ok' else c.status} | {lt_wall} "
            f"| {_fmt(res.wall_ratio(), '.2f', 'x')} | {_fmt(res.cpu_ratio(), '.2f', 'x')} "
            f"| {_fmt(c.peak_mib, '.1f')} | {_fmt(lt.peak_mib, '.1f')} "
            f"| {_fmt(res.memory_ratio(), '.2f', 'x')} "
            f"| {_fmt(agreement and agreement['max_param_rel_diff'], '.1e')} "
            f"| {_fmt(agreement and agreement['ll_rel_diff'], '.1e')} |"
        )
    return "\n".join(rows)


def machine_description() -> dict[str, Any]:
    """Facts about the machine and software that the numbers depend on."""
    here = str(Path(__file__).resolve().parent)

    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "unavailable"

    cpu = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        # platform.processor() is empty on most Linux systems; the model name is in /proc.
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = run(["git", "-C", here, "rev-parse", "HEAD"])
    dirty = run(["git", "-C", here, "status", "--porcelain", "--", ".."])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": platform.platform(),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "clvpredict": clvpredict.__version__,
        "lifetimes": lifetimes.__version__,
        "git_commit": commit,
        "uncommitted_changes": [line for line in dirty.splitlines() if line],
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Fit BG/NBD with clvpredict and lifetimes on the same data; compare time, "
        "memory and the optimum reached."
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: int(s.replace(",", "")),
        nargs="+",
        default=None,
        help=f"numbers of customers (default {' '.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small sizes only ({' '.join(map(str, QUICK_SIZES))}), one repeat: a smoke run",
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="data kinds to run"
    )
    parser.add_argument(
        "--lifetimes-max-n",
        type=int,
        default=DEFAULT_LIFETIMES_MAX_N,
        help="skip lifetimes (and say so) above this many customers, to bound the run time "
        f"(default {DEFAULT_LIFETIMES_MAX_N:,})",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed fits per library and case; the minimum is reported (default 5, 1 with --quick)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the extra tracemalloc fit per library"
    )
    parser.add_argument("--seed", type=int, default=20261125, help="random seed (default fixed)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.repeats < 1 or any(n < 1 for n in args.sizes):
        parser.error("--repeats and --sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report; exit status 1 if the two fits disagree."""
    args = parse_args(argv)
    machine = machine_description()
    print("BG/NBD fit benchmark: clvpredict vs lifetimes")
    for key, value in machine.items():
        print(f"  {key}: {value}")
    print(
        f"  sizes {args.sizes}, kinds {args.kinds}, repeats {args.repeats}, seed {args.seed}, "
        f"lifetimes up to n = {args.lifetimes_max_n:,}, memory via tracemalloc: "
        f"{'no' if args.no_memory else 'yes'}"
    )
    print()
    warm_up()
    results: list[CaseResult] = []
    started = time.perf_counter()
    for kind in args.kinds:
        for n in args.sizes:
            res = run_case(
                kind, n, args.seed, args.repeats, args.lifetimes_max_n, not args.no_memory
            )
            results.append(res)
            print(describe_case(res), flush=True)
            print()
    print(
        f"total benchmark time {time.perf_counter() - started:.0f} s; load average at the end "
        f"{os.getloadavg()}"
    )
    print()
    print(markdown_table(results))
    if args.json is not None:
        payload = {
            "machine": machine,
            "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "results": [
                {
                    **asdict(res),
                    "wall_ratio": res.wall_ratio(),
                    "cpu_ratio": res.cpu_ratio(),
                    "memory_ratio": res.memory_ratio(),
                    "agreement": res.agreement(),
                    "same_optimum": res.agrees(),
                }
                for res in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    # A benchmark whose fits disagree measured nothing useful: make that visible to scripts too.
    return 1 if any(res.agrees() is False for res in results) else 0


if __name__ == "__main__":
    sys.exit(main())
