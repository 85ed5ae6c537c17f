"""Fits and CLV at scale, side by side in one run: clvpredict, lifetimes, and the limit.

One run prints one table, ``stage | clvpredict | lifetimes | limit | ratios``, for

* the BG/NBD, MBG/NBD and Pareto/NBD fits on ``n`` customers simulated from the BG/NBD in
  continuous time (every row distinct, so compressing identical rows gives nothing; the
  simulator is ``bench_fit.simulate_bgnbd``),
* the Gamma-Gamma fit on the repeat buyers among them, with mean spends simulated from the
  Gamma-Gamma model itself (``p = 6.25, q = 3.74, gamma = 15.45``, near the CDNOW estimates),
* ``clvpredict.clv_table`` with the fitted BG/NBD and Gamma-Gamma (12 months, monthly
  discounting at 10% a year, simple CLV with a 3-year lifetime), on the continuous times (every
  (frequency, T) pair distinct: the worst case) and on the same customers with recency and T
  rounded to whole days, as a summary of dated transactions has them (lifetimes is timed on
  the continuous times only).

Every time is the minimum wall time (``time.perf_counter``) over ``--repeats`` complete calls,
after one untimed warm-up call of each; constructors and input checks are inside the timed
call, data generation is not.

The limit of a fit is one evaluation of its likelihood and gradient (at the optimum, minimum
over several calls) times the iterations the optimiser reported: what the fit would cost if
nothing else (grouping the rows, starting values, Hessian, covariance, checks) took any time.
The Newton fits also evaluate the Hessian at each iteration; that evaluation is shown too.

The load average is printed at the start and the end: on a shared machine the ratios of one
run are comparable, the absolute times less so.

Run ``python benchmarks/bench_models.py --help`` for the options; ``--quick`` runs 20,000
customers once.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lifetimes
import numpy as np
import pandas as pd
import scipy
from bench_fit import TRUE_PARAMS, simulate_bgnbd

import clvpredict as cp
from clvpredict._fitting import (
    _log_objective,
    _log_objective_with_hessian,
    compress,
    serial_blas,
)

#: Gamma-Gamma parameters of the simulated spend (near the CDNOW estimates).
SPEND_PARAMS = {"p": 6.25, "q": 3.74, "gamma": 15.45}


def simulate_data(n: int, seed: int) -> pd.DataFrame:
    """``n`` customers: BG/NBD histories in weeks and Gamma-Gamma mean spends of repeat buyers.

    A customer's spend per transaction is ``Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)``; the
    mean of ``x`` such values is ``Gamma(p x, x nu)``. One-time buyers have no mean repeat spend
    (NaN); every customer's first purchase is drawn too, for the average order value.
    """
    rng = np.random.default_rng([seed, n])
    rfm = simulate_bgnbd(n, **TRUE_PARAMS, rng=rng)
    p, q, gamma = SPEND_PARAMS.values()
    x = rfm.frequency
    nu = rng.gamma(shape=q, scale=1.0 / gamma, size=n)
    repeat = x > 0
    spend = np.full(n, np.nan)
    spend[repeat] = rng.gamma(shape=p * x[repeat], scale=1.0 / (x[repeat] * nu[repeat]))
    first = rng.gamma(shape=p, scale=1.0 / nu)
    data = pd.DataFrame(
        {
            "frequency": x,
            "recency": rfm.recency,
            "T": rfm.T,
            "monetary_value": spend,
            # The simple CLV's average order value includes the first purchase.
            "avg_order_value": (first + x * np.nan_to_num(spend)) / (x + 1),
        },
        index=pd.RangeIndex(n, name="customer_id"),
    )
    data.attrs["time_unit"] = "W"
    return data


def best_time(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Minimum wall time of ``repeats`` calls after one warm-up call, and the last result."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = call()
        times = []
        for _ in range(repeats):
            gc.collect()
            start = time.perf_counter()
            result = call()
            times.append(time.perf_counter() - start)
    return min(times), result


@serial_blas
def evaluation_times(model: Any, columns: list[np.ndarray], repeats: int = 5) -> dict[str, float]:
    """One likelihood-and-gradient evaluation (and, for Newton fits, one with the Hessian) at
    the fitted parameters, on the rows the fit saw: minimum over ``repeats`` calls. BLAS runs
    single-threaded, as inside a fit."""
    rows, weights = compress(columns)
    rows, _, _ = model._standardise(rows, weights)
    negll, likelihood_columns = model._prepare_likelihood(rows, weights)
    theta = model.params_.to_numpy(dtype=float)
    if isinstance(model, cp.GammaGammaModel):
        # The fit runs on spend divided by its mean; gamma is on that scale there.
        theta = theta / np.array([1.0, 1.0, float(weights @ columns[1]) / float(weights.sum())])
    phi = np.log(theta)
    out = {}
    objective = _log_objective(negll, likelihood_columns, weights)
    out["gradient"] = best_time(lambda: objective(phi), repeats)[0]
    if model._analytic_hessian:
        with_hessian = _log_objective_with_hessian(negll, likelihood_columns, weights)
        out["hessian"] = best_time(lambda: with_hessian(phi), repeats)[0]
    return out


def fit_row(
    stage: str,
    ours: Callable[[], Any],
    theirs: Callable[[], Any] | None,
    columns: Callable[[], list[np.ndarray]],
    repeats: int,
) -> dict[str, Any]:
    """Time both libraries' fits and the limit of ours."""
    row: dict[str, Any] = {"stage": stage}
    row["clvpredict_s"], model = best_time(ours, repeats)
    result = model.fit_result_
    row["iterations"] = result.n_iterations
    row["evaluations"] = result.n_evaluations
    row["screening_evaluations"] = result.n_screening_evaluations
    row["converged"] = bool(model.converged_)
    row["method"] = "Newton" if result.message.startswith("Newton") else "L-BFGS-B"
    row["params"] = model.params_.to_dict()
    evals = evaluation_times(model, columns())
    row["eval_gradient_s"] = evals["gradient"]
    row["eval_hessian_s"] = evals.get("hessian")
    row["limit_s"] = evals["gradient"] * result.n_iterations
    row["lifetimes_s"] = None
    if theirs is not None:
        try:
            row["lifetimes_s"], fitted = best_time(theirs, repeats)
            theirs_params = fitted.params_.to_dict() if hasattr(fitted, "params_") else {}
            shared = [k for k in row["params"] if k in theirs_params]
            row["max_rel_param_diff_vs_lifetimes"] = max(
                abs(theirs_params[k] / row["params"][k] - 1) for k in shared
            )
        except Exception as error:
            row["lifetimes_error"] = f"{type(error).__name__}: {str(error)[:120]}"
    return row


def run(
    n: int,
    repeats: int,
    pareto_repeats: int,
    lifetimes_pareto: bool,
    seed: int,
    lifetimes_mbg: bool = False,
) -> dict:
    """All stages on ``n`` simulated customers."""
    data = simulate_data(n, seed)
    repeat = data[data["frequency"] > 0]
    x, t_x, big_t = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    rows = []

    purchase_fits = [
        # (stage, our class, lifetimes' class or None when its fit is not timed, repeats)
        ("BG/NBD fit", cp.BetaGeoModel, lifetimes.BetaGeoFitter, repeats),
        (
            "MBG/NBD fit",
            cp.ModifiedBetaGeoModel,
            lifetimes.ModifiedBetaGeoFitter if lifetimes_mbg else None,
            repeats,
        ),
    ]
    for stage, ours, theirs, times in purchase_fits:
        rows.append(
            fit_row(
                stage,
                lambda ours=ours: ours().fit(data),
                (lambda theirs=theirs: theirs(penalizer_coef=0.0).fit(x, t_x, big_t))
                if theirs is not None
                else None,
                lambda: [x, t_x, big_t],
                times,
            )
        )
    rows.append(
        fit_row(
            "Gamma-Gamma fit",
            lambda: cp.GammaGammaModel().fit(data),
            lambda: lifetimes.GammaGammaFitter(penalizer_coef=0.0).fit(
                repeat["frequency"], repeat["monetary_value"]
            ),
            lambda: [repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()],
            repeats,
        )
    )
    pareto = lifetimes.ParetoNBDFitter if lifetimes_pareto else None
    rows.append(
        fit_row(
            "Pareto/NBD fit",
            lambda: cp.ParetoNBDModel().fit(data),
            (lambda: pareto(penalizer_coef=0.0).fit(x, t_x, big_t)) if pareto else None,
            lambda: [x, t_x, big_t],
            pareto_repeats,
        )
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = cp.BetaGeoModel().fit(data)
        gg = cp.GammaGammaModel().fit(data)
    # A summary made from dated transactions (rfm_summary) has recency and T in whole days,
    # so many customers share (frequency, T) and the expected purchases are computed once per
    # pair; the continuous simulated times are the worst case, every pair distinct.
    in_days = data.copy()
    in_days[["recency", "T"]] = np.round(data[["recency", "T"]] * 7.0) / 7.0
    in_days.attrs["time_unit"] = "W"
    days: dict[str, Any] = {"stage": "clv_table (12 months), times in whole days"}
    days["clvpredict_s"], _ = best_time(
        lambda: cp.clv_table(bg, gg, in_days, lifetime_years=3.0, horizon_months=12), repeats
    )
    days["lifetimes_s"] = None
    clv: dict[str, Any] = {"stage": "clv_table (12 months), continuous times"}
    clv["clvpredict_s"], _ = best_time(
        lambda: cp.clv_table(bg, gg, data, lifetime_years=3.0, horizon_months=12), repeats
    )
    clv["lifetimes_s"] = None
    try:
        their_bg = lifetimes.BetaGeoFitter().fit(x, t_x, big_t)
        their_gg = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        clv["lifetimes_s"], _ = best_time(
            lambda: their_gg.customer_lifetime_value(
                their_bg,
                data["frequency"],
                data["recency"],
                data["T"],
                data["monetary_value"].fillna(0.0),
                time=12,
                discount_rate=0.10 / 12,
                freq="W",
            ),
            repeats,
        )
    except Exception as error:
        clv["lifetimes_error"] = f"{type(error).__name__}: {str(error)[:120]}"
    rows.append(clv)
    rows.append(days)
    return {"n": n, "repeat_buyers": len(repeat), "rows": rows}


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def table(result: dict) -> str:
    """The markdown table of one run."""
    lines = [
        "| stage | clvpredict | lifetimes | limit | ratios |",
        "|---|---:|---:|---:|---|",
    ]
    bg_time = result["rows"][0]["clvpredict_s"]
    for row in result["rows"]:
        ratios = []
        if row.get("lifetimes_s"):
            ratios.append(f"lifetimes / clvpredict {row['lifetimes_s'] / row['clvpredict_s']:.1f}x")
        elif row.get("lifetimes_error"):
            ratios.append(f"lifetimes failed ({row['lifetimes_error']})")
        else:
            ratios.append("lifetimes not run")
        limit = "-"
        if "limit_s" in row:
            limit = (
                f"{row['limit_s']:.3f} s = {row['eval_gradient_s'] * 1e3:.1f} ms x "
                f"{row['iterations']} it"
            )
            if row.get("eval_hessian_s") is not None:
                limit += f" (with Hessian {row['eval_hessian_s'] * 1e3:.1f} ms)"
            ratios.append(f"clvpredict / limit {row['clvpredict_s'] / row['limit_s']:.1f}x")
            screened = row.get("screening_evaluations")
            ratios.append(
                f"{row['method']}, {row['evaluations']} evaluations"
                + (f" (+ {screened} on the screening sample)" if screened else "")
                + ("" if row["converged"] else ", NOT CONVERGED")
            )
        if row["stage"] in ("Pareto/NBD fit", "MBG/NBD fit"):
            name = row["stage"].split()[0]
            ratios.append(f"{name} / BG/NBD {row['clvpredict_s'] / bg_time:.2f}x")
        lines.append(
            f"| {row['stage']} | {_s(row['clvpredict_s'])} | {_s(row.get('lifetimes_s'))} "
            f"| {limit} | {'; '.join(ratios)} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="customers (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per stage (min)")
    parser.add_argument(
        "--pareto-repeats", type=int, default=1, help="timed Pareto/NBD fits (slow; default 1)"
    )
    parser.add_argument(
        "--lifetimes-pareto",
        action="store_true",
        help="also fit lifetimes' ParetoNBDFitter (Nelder-Mead; minutes at 1M customers)",
    )
    parser.add_argument(
        "--lifetimes-mbg",
        action="store_true",
        help="also fit lifetimes' ModifiedBetaGeoFitter",
    )
    parser.add_argument("--quick", action="store_true", help="20,000 customers, one repeat")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.pareto_repeats = 20_000, 1, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_start = os.getloadavg()
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, clvpredict {cp.__version__}, lifetimes {lifetimes.__version__}"
        f", {os.cpu_count()} cores, {platform.platform()}"
    )
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in load_start)}")
    result = run(
        args.n,
        args.repeats,
        args.pareto_repeats,
        args.lifetimes_pareto,
        args.seed,
        lifetimes_mbg=args.lifetimes_mbg,
    )
    load_end = os.getloadavg()
    print(
        f"\n{result['n']:,} customers ({result['repeat_buyers']:,} repeat buyers), "
        f"minimum of {args.repeats} timed calls (Pareto/NBD: {args.pareto_repeats})\n"
    )
    print(table(result))
    print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in load_end)}")
    if args.json is not None:
        result.update(load_start=load_start, load_end=load_end, args=vars(args) | {"json": None})
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
