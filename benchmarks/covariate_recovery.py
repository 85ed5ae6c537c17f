"""Covariate recovery: do the intervals of the coefficients cover the truth as often as they say,
and does the likelihood-ratio test hold its size?

For each model (BG/NBD and Pareto/NBD by default), the script repeatedly draws ``n`` customers
with one categorical covariate (``channel``: store 50%, web 30%, partner 20%; reference level
``store``) and one numeric covariate (``score``, standard normal, two decimals), simulates their
purchases with :func:`clvpredict.simulation.simulate_with_covariates` at known parameters and
coefficients, fits the model with those covariates, and records, per coefficient:

* whether its Wald interval (``summary()``: estimate +- z se) covers the truth, at 90% and 95%;
* whether its profile-likelihood interval covers the truth, at 90% and 95%: from the
  likelihood-ratio statistic at the true value, ``LR = 2 (LL_max - LL_profile(truth))`` (one
  constrained fit per coefficient, :func:`clvpredict.models._profile.profile_likelihood_ratio`),
  the truth being inside the ``level`` interval when ``LR < chi2_1(level)``; this is the
  interval ``summary(method="profile")`` reports, without searching for its ends;
* ``z = (estimate - truth) / se`` (mean 0 and sd 1 if the normal approximation holds).

Each repetition also draws a second data set from the same customers with every coefficient 0
and fits the model with the same covariates: the likelihood-ratio test of
``likelihood_ratio_test()`` should then reject at 5% in 5% of repetitions, and its statistic
should be chi-square with 4 degrees of freedom (mean 4, variance 8).

Coverage and rejection counts are Binomial(R, p) at the nominal rate p, so the standard errors
printed are ``sqrt(p (1 - p) / R)``. Fits that do not converge count as not covering and are
reported; so are profiles that fail (a constrained fit finding a higher likelihood than the
fit). Every repetition has its own seed, ``SeedSequence([seed, model, rep])``, so any one can be
rerun alone.

Run ``python benchmarks/covariate_recovery.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
from scipy import stats

import clvpredict
from clvpredict import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from clvpredict.exceptions import ConvergenceError, ConvergenceWarning
from clvpredict.models._profile import profile_likelihood_ratio
from clvpredict.simulation import simulate_with_covariates

#: Population parameters (weeks): the published CDNOW estimates, those of a customer whose
#: covariates are all 0.
BASE: dict[str, dict[str, float]] = {
    "bgnbd": {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "paretonbd": {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668},
}
#: The coefficients to recover (the same names in every model; the dropout coefficient's sign
#: means a shorter lifetime for the Pareto/NBD and a tighter spread of the dropout probability
#: for the BG/NBD and MBG/NBD).
COEFFICIENTS = {
    "purchase.channel[web]": 0.4,
    "purchase.channel[partner]": -0.3,
    "purchase.score": 0.2,
    "dropout.score": -0.5,
}
LABELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "paretonbd": "Pareto/NBD"}
CLASSES = {"bgnbd": BetaGeoModel, "mbgnbd": ModifiedBetaGeoModel, "paretonbd": ParetoNBDModel}
SETTINGS = {
    "time_unit": "W",
    "purchase_covariates": ["channel", "score"],
    "dropout_covariates": ["score"],
    "reference_levels": {"channel": "store"},
}
LEVELS = (0.90, 0.95)
LR_LEVELS = (0.10, 0.05, 0.01)


def customers(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The covariate table as a user has it, its design columns, and T (weeks since the first
    purchase, uniform over 26..78: a cohort acquired over a year and observed for 18 months)."""
    channel = rng.choice(["store", "web", "partner"], size=n, p=[0.5, 0.3, 0.2])
    score = np.round(rng.normal(size=n), 2)
    ids = pd.Index([f"C{i:06d}" for i in range(n)], name="customer_id")
    table = pd.DataFrame(
        {"channel": pd.Categorical(channel, ["store", "web", "partner"]), "score": score},
        index=ids,
    )
    design = pd.DataFrame(
        {
            "channel[web]": (channel == "web").astype(float),
            "channel[partner]": (channel == "partner").astype(float),
            "score": score,
        },
        index=ids,
    )
    return table, design, rng.uniform(26.0, 78.0, size=n)


def fit(name: str, summary: pd.DataFrame, table: pd.DataFrame) -> Any:
    with warnings.catch_warnings():
        # Non-convergence is recorded from converged_, not from the warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CLASSES[name](**SETTINGS).fit(summary, covariates=table)


@dataclass
class Repetition:
    converged: bool
    estimate: np.ndarray
    std_error: np.ndarray
    statistic: np.ndarray  # profile LR statistic at the truth, per coefficient (NaN: failed)
    profile_failed: bool
    null_converged: bool
    lr_statistic: float
    lr_p_value: float
    seconds: float


def run_once(name: str, n: int, rng: np.random.Generator) -> Repetition:
    start = time.perf_counter()
    table, design, T = customers(n, rng)
    truth = pd.Series(COEFFICIENTS)
    seeds = rng.integers(0, 2**63, size=2)
    data = simulate_with_covariates(
        name, BASE[name], COEFFICIENTS, design, T, time_unit="W", random_state=seeds[0]
    )
    model = fit(name, data[["frequency", "recency", "T"]], table)
    try:
        statistic = profile_likelihood_ratio(model, truth).to_numpy()
        failed = False
    except ConvergenceError:
        statistic, failed = np.full(len(truth), np.nan), True
    null = simulate_with_covariates(
        name,
        BASE[name],
        dict.fromkeys(COEFFICIENTS, 0.0),
        design,
        T,
        time_unit="W",
        random_state=seeds[1],
    )
    null_model = fit(name, null[["frequency", "recency", "T"]], table)
    test = null_model.likelihood_ratio_test()
    return Repetition(
        converged=bool(model.converged_),
        estimate=model.params_[truth.index].to_numpy(),
        std_error=model.standard_errors_[truth.index].to_numpy(),
        statistic=statistic,
        profile_failed=failed,
        null_converged=bool(null_model.converged_),
        lr_statistic=float(test["statistic"]),
        lr_p_value=float(test["p_value"]),
        seconds=time.perf_counter() - start,
    )


@dataclass
class Study:
    name: str
    n: int
    repetitions: list[Repetition] = field(default_factory=list)
    wall_seconds: float = 0.0

    def table(self) -> pd.DataFrame:
        """Coverage per coefficient, with the binomial standard error at the nominal rate."""
        reps = self.repetitions
        count = len(reps)
        truth = np.array(list(COEFFICIENTS.values()))
        ok = np.array([r.converged for r in reps])
        est = np.array([r.estimate for r in reps])
        se = np.array([r.std_error for r in reps])
        z = np.where(ok[:, None], (est - truth) / se, np.nan)
        stat = np.array([r.statistic for r in reps])
        stat = np.where(ok[:, None], stat, np.nan)
        rows = {}
        for j, name in enumerate(COEFFICIENTS):
            row: dict[str, float] = {"truth": float(truth[j])}
            for level in LEVELS:
                pct = round(100 * level)
                crit = stats.norm.ppf(0.5 + level / 2)
                row[f"wald_{pct}"] = float(np.mean(np.abs(z[:, j]) < crit))
                # NaN (failed profile or fit) compares False: counted as not covering.
                row[f"profile_{pct}"] = float(np.mean(stat[:, j] < stats.chi2.ppf(level, 1)))
                row[f"se_{pct}"] = float(np.sqrt(level * (1 - level) / count))
            row["z_mean"] = float(np.nanmean(z[:, j]))
            row["z_sd"] = float(np.nanstd(z[:, j], ddof=1))
            row["estimate_mean"] = float(np.nanmean(np.where(ok, est[:, j], np.nan)))
            rows[name] = row
        return pd.DataFrame(rows).T

    def lr_table(self) -> dict[str, float]:
        """The null LR test: rejection rates and the statistic's moments."""
        reps = self.repetitions
        count = len(reps)
        p = np.array([r.lr_p_value for r in reps])
        s = np.array([r.lr_statistic for r in reps])
        out: dict[str, float] = {}
        for level in LR_LEVELS:
            out[f"reject_{level:g}"] = float(np.mean(p < level))
            out[f"se_{level:g}"] = float(np.sqrt(level * (1 - level) / count))
        out["statistic_mean"] = float(np.mean(s))
        out["statistic_mean_se"] = float(np.std(s, ddof=1) / np.sqrt(count))
        out["statistic_var"] = float(np.var(s, ddof=1))
        out["ks_p_value"] = float(stats.kstest(s, stats.chi2(len(COEFFICIENTS)).cdf).pvalue)
        return out

    @property
    def not_converged(self) -> int:
        return sum(not r.converged for r in self.repetitions)

    @property
    def null_not_converged(self) -> int:
        return sum(not r.null_converged for r in self.repetitions)

    @property
    def profile_failed(self) -> list[int]:
        return [i for i, r in enumerate(self.repetitions) if r.profile_failed]


def run_study(name: str, n: int, repetitions: int, seed: int) -> Study:
    study = Study(name=name, n=n)
    start = time.perf_counter()
    for rep in range(repetitions):
        rng = np.random.default_rng(np.random.SeedSequence([seed, list(BASE).index(name), rep]))
        study.repetitions.append(run_once(name, n, rng))
        if (rep + 1) % max(1, repetitions // 10) == 0:
            print(f"  {LABELS[name]}: {rep + 1}/{repetitions}", file=sys.stderr, flush=True)
    study.wall_seconds = time.perf_counter() - start
    return study


def format_study(study: Study) -> str:
    table = study.table()
    count = len(study.repetitions)
    lines = [
        f"{LABELS[study.name]}, n = {study.n:,} customers, {count} repetitions; "
        f"{study.not_converged} fits not converged, {len(study.profile_failed)} profiles failed"
        f"{' (repetitions ' + str(study.profile_failed) + ')' if study.profile_failed else ''}; "
        f"{study.wall_seconds:.1f} s ({1000 * study.wall_seconds / count:.0f} ms per repetition: "
        "two fits and the profile statistics)",
        f"  truth: {', '.join(f'{k} {v:g}' for k, v in BASE[study.name].items())}",
        f"  {'coefficient':<27}{'truth':>6}{'Wald 90%':>10}{'Wald 95%':>10}"
        f"{'profile 90%':>13}{'profile 95%':>13}{'z mean':>8}{'z sd':>6}",
    ]
    for name, row in table.iterrows():
        flags = [
            f"{kind} {pct}%"
            for kind in ("wald", "profile")
            for pct in (90, 95)
            if abs(row[f"{kind}_{pct}"] - pct / 100) > 3 * row[f"se_{pct}"]
        ]
        lines.append(
            f"  {name:<27}{row['truth']:>+6.1f}{row['wald_90']:>10.3f}{row['wald_95']:>10.3f}"
            f"{row['profile_90']:>13.3f}{row['profile_95']:>13.3f}"
            f"{row['z_mean']:>+8.2f}{row['z_sd']:>6.2f}"
            + (f"  <-- off by > 3 SE: {', '.join(flags)}" if flags else "")
        )
    se90, se95 = table["se_90"].iloc[0], table["se_95"].iloc[0]
    lines.append(f"  binomial SE at the nominal rate: 90% ± {se90:.3f}, 95% ± {se95:.3f}")
    lr = study.lr_table()
    lines.append(
        f"  LR test, data with every coefficient 0 ({study.null_not_converged} fits not "
        "converged): rejects "
        + ", ".join(
            f"at {100 * level:g}%: {lr[f'reject_{level:g}']:.3f} ± {lr[f'se_{level:g}']:.3f}"
            for level in LR_LEVELS
        )
    )
    lines.append(
        f"  statistic (chi-square, 4 df: mean 4, variance 8): mean "
        f"{lr['statistic_mean']:.2f} ± {lr['statistic_mean_se']:.2f}, variance "
        f"{lr['statistic_var']:.2f}; Kolmogorov-Smirnov p = {lr['ks_p_value']:.3f}"
    )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "clvpredict": clvpredict.__version__,
        "machine": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(BASE), default=["bgnbd", "paretonbd"])
    parser.add_argument("--customers", type=int, default=2_000, help="customers per data set")
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)

    env = environment()
    print("Coverage of the Wald and profile-likelihood intervals of covariate coefficients, and")
    print("size of the likelihood-ratio test, on simulated customers with covariates")
    print("(clvpredict.simulation.simulate_with_covariates).")
    print(", ".join(f"{k} {v}" for k, v in env.items()))
    print(f"repetitions per model: {args.repetitions}; seed {args.seed}")
    print()
    studies = []
    total = time.perf_counter()
    for name in args.models:
        study = run_study(name, args.customers, args.repetitions, args.seed)
        studies.append(study)
        print(format_study(study))
        print(flush=True)
    print(f"total time: {time.perf_counter() - total:.1f} s")
    if args.json:
        payload = {
            "environment": env,
            "seed": args.seed,
            "repetitions": args.repetitions,
            "customers": args.customers,
            "coefficients": COEFFICIENTS,
            "studies": [
                {
                    "model": s.name,
                    "base": BASE[s.name],
                    "not_converged": s.not_converged,
                    "null_not_converged": s.null_not_converged,
                    "profile_failed": s.profile_failed,
                    "wall_seconds": s.wall_seconds,
                    "coefficients": s.table().to_dict(orient="index"),
                    "lr_test": s.lr_table(),
                }
                for s in studies
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
