"""Speed of the BG/BB fit, clvpredict against lifetimes in the same run.

Cases
-----
``donations``
    The published donations table (Fader, Hardie & Shang 2010): 11,104 donors in 22 distinct
    histories, 6 annual opportunities, fitted with ``weights``.
``simulated, 1-P periods``
    ``--size`` customers (default 100,000) simulated from the BG/BB at the published donations
    estimates with 1 to P opportunities each, for each P of ``--periods`` (default 24 and 104:
    two years of months, two years of weeks): many distinct histories and long ones, where the
    likelihood's sum over the periods dominates.

Both libraries get the same distinct rows with their weights (lifetimes' fitter takes weights).
Each fit is repeated ``--repeats`` times and the minimum wall time is reported; a lifetimes fit
that raises is reported with its error instead of a time. When both converge, the script checks
that they reached the same optimum (log-likelihoods within 1e-6 relative).

Run ``python benchmarks/bench_bgbb.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_fit import machine_description

from clvpredict import BetaGeoBetaBinomModel
from clvpredict.data.datasets import load_donations
from clvpredict.models.beta_geo_beta_binom import bgbb_log_likelihood

#: Published donations estimates (shared/REFERENCE.md), the truth of the simulated case.
TRUTH = {"alpha": 1.2035, "beta": 0.7498, "gamma": 0.6568, "delta": 2.7839}


def weekly_data(size: int, periods: int, seed: int) -> pd.DataFrame:
    """Distinct histories with weights from ``size`` simulated customers."""
    rng = np.random.default_rng(seed)
    truth = BetaGeoBetaBinomModel.from_params(TRUTH)
    sim = truth.simulate(rng.integers(1, periods + 1, size), random_state=rng)
    grouped = sim.groupby(["frequency", "recency", "T"]).size().rename("weights")
    return grouped.reset_index()


def donations_data() -> pd.DataFrame:
    return load_donations().rename(columns={"periods": "T"})


def _best_time(fit, repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_case(name: str, data: pd.DataFrame, repeats: int) -> dict[str, Any]:
    """Fit both libraries on ``data`` (frequency, recency, T, weights) and compare."""
    import lifetimes

    x, t_x, n, w = (data[c].to_numpy(float) for c in ("frequency", "recency", "T", "weights"))
    ours_time, ours = _best_time(
        lambda: BetaGeoBetaBinomModel().fit(data, weights="weights"), repeats
    )
    row: dict[str, Any] = {
        "case": name,
        "customers": int(w.sum()),
        "distinct_rows": len(data),
        "max_periods": int(n.max()),
        "clvpredict_s": ours_time,
        "clvpredict_converged": bool(ours.converged_),
        "clvpredict_log_likelihood": float(ours.log_likelihood_),
    }

    def theirs_fit():
        # lifetimes prints scipy's result when its fit fails; the error is reported below.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return lifetimes.BetaGeoBetaBinomFitter().fit(
                data["frequency"], data["recency"], data["T"], weights=data["weights"]
            )

    try:
        theirs_time, theirs = _best_time(theirs_fit, repeats)
    except Exception as exc:  # lifetimes raises its own ConvergenceError, or numpy errors
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        row.update(lifetimes_s=None, lifetimes_error=message[:200])
        return row
    params = theirs.params_[["alpha", "beta", "gamma", "delta"]].to_numpy(float)
    their_ll = float(w @ bgbb_log_likelihood(*params, x, t_x, n))
    row.update(
        lifetimes_s=theirs_time,
        ratio=theirs_time / ours_time,
        lifetimes_log_likelihood=their_ll,
        same_optimum=abs(their_ll - ours.log_likelihood_) <= 1e-6 * abs(their_ll),
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="simulated customers")
    parser.add_argument(
        "--periods",
        type=int,
        nargs="+",
        default=[24, 104],
        help="most opportunities per customer, one simulated case each",
    )
    parser.add_argument("--repeats", type=int, default=3, help="fits per library and case")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    machine = machine_description()
    print("BG/BB fit benchmark: clvpredict vs lifetimes")
    for key, value in machine.items():
        print(f"  {key}: {value}")
    cases = [("donations", donations_data())] + [
        (f"simulated, 1-{p} periods", weekly_data(args.size, p, args.seed)) for p in args.periods
    ]
    rows = [run_case(name, data, args.repeats) for name, data in cases]
    print()
    print(
        "| case | customers | distinct rows | most periods | clvpredict (s) | lifetimes (s) | ratio | same optimum |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        theirs = f"{r['lifetimes_s']:.3f}" if r.get("lifetimes_s") is not None else "failed"
        ratio = f"{r['ratio']:.1f}x" if r.get("ratio") else "-"
        same = r.get("same_optimum", f"lifetimes: {r.get('lifetimes_error', '')}")
        print(
            f"| {r['case']} | {r['customers']:,} | {r['distinct_rows']:,} | {r['max_periods']} | "
            f"{r['clvpredict_s']:.3f} | {theirs} | {ratio} | {same} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine, "results": rows}, indent=2, default=str)
        )
    return 0 if all(r["clvpredict_converged"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
