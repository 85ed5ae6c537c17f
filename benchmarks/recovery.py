"""Parameter recovery: do clvpredict's confidence intervals cover the truth as often as they say?

For every model and sample size, the script repeatedly simulates customers at known parameters
(the published estimates in ``shared/REFERENCE.md``) with :mod:`clvpredict.simulation`, fits the
model, and records whether each parameter's Wald interval from ``summary()`` (on the log scale)
contains the true value. Over ``R`` repetitions the share that does is the empirical coverage;
at the nominal rate its count is Binomial(R, level), so the printed standard error is
``sqrt(level (1 - level) / R)``.

Also printed, per parameter:

* ``z mean`` and ``z sd``: mean and standard deviation of ``(log estimate - log truth) / (se /
  estimate)``, the statistic behind the interval. If the asymptotic normal approximation holds,
  they are 0 and 1; ``z sd`` above 1 means the standard errors are too small, a mean away from 0
  a bias of the estimator relative to its standard error.
* ``bias %``: median of ``estimate / truth - 1``.

With ``--intervals profile`` the profile-likelihood intervals of ``summary(method="profile")``
are checked as well (see :mod:`clvpredict._profile`). Their 95% coverage is read from
``summary()`` itself; 90% and 99% coverage come from the likelihood-ratio statistic at the true
value, ``LR = 2 (LL_max - LL_profile(truth))`` (one constrained fit per parameter): the truth is
inside the ``level`` interval when ``LR < chi2_1(level)``. Printed with them:

* ``root mean`` and ``root sd``: of the signed root ``sign(log estimate - log truth) sqrt(LR)``,
  the profile analogue of ``z`` (standard normal in large samples);
* ``width``: median ratio of the profile to the Wald 95% interval's width, on the log scale;
* ms per ``summary(method="profile")`` call.

Fits that do not converge count as not covering (coverage is a property of the whole procedure)
and are reported; so do profiles that fail, which happens when a constrained fit finds a higher
likelihood than the fit itself (the fit stopped at a local maximum). Every repetition has its own
seed from ``SeedSequence([seed, model, n, rep])``, so any one of them can be rerun alone.

Data
----
* BG/NBD, MBG/NBD, Pareto/NBD: a CDNOW-like cohort, weeks: customers acquired uniformly over 12
  weeks and observed to week 39, so ``T ~ Uniform(27, 39)``.
* BG/BB: 6 transaction opportunities per customer, like the donations data.
* Gamma-Gamma: the repeat buyers among ``n`` simulated BG/NBD customers (about 40% of them, so
  ``n = 2,357`` gives about as many as CDNOW's 946).

Run ``python benchmarks/recovery.py --help`` for the options; ``--quick`` takes a minute or so.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy
from scipy import stats

import clvpredict
from clvpredict import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from clvpredict.exceptions import ConvergenceError, ConvergenceWarning
from clvpredict.models._profile import profile_likelihood_ratio
from clvpredict.simulation import simulate_bgnbd

#: True parameters: the published estimates (CDNOW in weeks; donations in periods).
TRUTH: dict[str, dict[str, float]] = {
    "bgnbd": {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "paretonbd": {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668},
    "bgbb": {"alpha": 1.2035, "beta": 0.7498, "gamma": 0.6568, "delta": 2.7839},
    "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
}
LABELS = {
    "bgnbd": "BG/NBD",
    "mbgnbd": "MBG/NBD",
    "paretonbd": "Pareto/NBD",
    "bgbb": "BG/BB",
    "gamma_gamma": "Gamma-Gamma",
}
CLASSES = {
    "bgnbd": BetaGeoModel,
    "mbgnbd": ModifiedBetaGeoModel,
    "paretonbd": ParetoNBDModel,
    "bgbb": BetaGeoBetaBinomModel,
    "gamma_gamma": GammaGammaModel,
}
#: Models of calendar time; their parameters are in weeks.
IN_WEEKS = ("bgnbd", "mbgnbd", "paretonbd")
DEFAULT_SIZES = (2_357, 10_000)
DEFAULT_REPETITIONS = 1_000
QUICK_SIZES = (2_357,)
QUICK_REPETITIONS = 100
LEVELS = (0.90, 0.95, 0.99)
INTERVALS = ("wald", "profile")


# ------------------------------------------------------------------------------------------------
# One repetition
# ------------------------------------------------------------------------------------------------


def simulate(name: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Simulated data for one repetition of model ``name`` with ``n`` customers."""
    if name in IN_WEEKS:
        truth = CLASSES[name].from_params(TRUTH[name], time_unit="W")
    else:
        truth = CLASSES[name].from_params(TRUTH[name])
    if name == "bgbb":
        return truth.simulate(6, n_customers=n, random_state=rng)
    if name == "gamma_gamma":
        purchases = simulate_bgnbd(
            *TRUTH["bgnbd"].values(), rng.uniform(27.0, 39.0, n), random_state=rng
        )
        repeat = purchases.loc[purchases["frequency"] > 0, "frequency"]
        return truth.simulate(repeat, random_state=rng)
    return truth.simulate(rng.uniform(27.0, 39.0, n), random_state=rng)


@dataclass
class Profile:
    """Profile-likelihood figures of one repetition (``--intervals profile``)."""

    failed: bool  # summary(method="profile") or the statistic at the truth raised
    covered_95: np.ndarray  # from summary(alpha=0.05, method="profile"): what users see
    statistic: np.ndarray  # 2 (LL_max - LL_profile(truth)), per parameter
    width_ratio: np.ndarray  # log-width of the profile 95% interval / that of the Wald one
    seconds: float  # one summary(method="profile") call


@dataclass
class Repetition:
    """Outcome of one simulate-and-fit."""

    converged: bool
    estimate: np.ndarray
    std_error: np.ndarray
    covered_95: np.ndarray  # from summary(alpha=0.05): what users see
    fit_seconds: float
    profile: Profile | None = None


def run_once(name: str, n: int, rng: np.random.Generator, intervals: str = "wald") -> Repetition:
    """Simulate, fit, and compare the 95% intervals with the truth."""
    data = simulate(name, n, rng)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Non-convergence is recorded from converged_, not from the warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = CLASSES[name]().fit(data)
    elapsed = time.perf_counter() - start
    truth = pd.Series(TRUTH[name])[model.params_.index]
    table = model.summary(alpha=0.05)
    covered = ((table["lower_95"] < truth) & (truth < table["upper_95"])).to_numpy()
    converged = bool(model.converged_)
    return Repetition(
        converged=converged,
        estimate=model.params_.to_numpy(),
        std_error=model.standard_errors_.to_numpy(),
        covered_95=covered & converged,
        fit_seconds=elapsed,
        profile=run_profile(model, truth, table) if intervals == "profile" else None,
    )


def run_profile(model: Any, truth: pd.Series, wald: pd.DataFrame) -> Profile:
    """The profile-likelihood 95% intervals and the statistic at the truth, of one fit."""
    k = len(truth)
    start = time.perf_counter()
    try:
        table = model.summary(alpha=0.05, method="profile")
        seconds = time.perf_counter() - start
        statistic = profile_likelihood_ratio(model, truth).to_numpy()
    except ConvergenceError:
        # Counted as not covering, like a fit that did not converge.
        nan = np.full(k, np.nan)
        return Profile(True, np.zeros(k, bool), nan, nan, time.perf_counter() - start)
    covered = ((table["lower_95"] < truth) & (truth < table["upper_95"])).to_numpy()
    width = np.log(table["upper_95"] / table["lower_95"]) / np.log(
        wald["upper_95"] / wald["lower_95"]
    )
    return Profile(
        failed=False,
        covered_95=covered & bool(model.converged_),
        statistic=statistic,
        width_ratio=width.to_numpy(),
        seconds=seconds,
    )


# ------------------------------------------------------------------------------------------------
# A study: many repetitions of one model at one size
# ------------------------------------------------------------------------------------------------


@dataclass
class Study:
    """All repetitions of one (model, n)."""

    name: str
    n: int
    repetitions: list[Repetition] = field(default_factory=list)
    wall_seconds: float = 0.0

    def table(self) -> pd.DataFrame:
        """Coverage and calibration per parameter."""
        names = list(TRUTH[self.name])
        truth = np.array(list(TRUTH[self.name].values()))
        reps = self.repetitions
        count = len(reps)
        ok = np.array([rep.converged for rep in reps])
        est = np.array([rep.estimate for rep in reps])
        se = np.array([rep.std_error for rep in reps])
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (np.log(est) - np.log(truth)) / (se / est)
        z = np.where(ok[:, None], z, np.nan)
        rows = {}
        for j, param in enumerate(names):
            zj = z[:, j]
            row: dict[str, float] = {}
            for level in LEVELS:
                crit = stats.norm.ppf(0.5 + level / 2)
                # |z| < crit is exactly the log-scale Wald interval of summary(); 95% is also
                # taken from summary() itself below, as a check of that identity.
                row[f"cover_{round(100 * level)}"] = float(np.mean(np.abs(zj) < crit))
            row["cover_95_summary"] = float(np.mean([rep.covered_95[j] for rep in reps]))
            row["se_95"] = float(np.sqrt(0.95 * 0.05 / count))
            row["z_mean"] = float(np.nanmean(zj))
            row["z_sd"] = float(np.nanstd(zj, ddof=1))
            row["bias_pct"] = float(100 * np.nanmedian(est[ok, j] / truth[j] - 1))
            if self.has_profile:
                row.update(self._profile_row(j, ok, z[:, j]))
            rows[param] = row
        return pd.DataFrame(rows).T

    @property
    def has_profile(self) -> bool:
        return bool(self.repetitions) and all(rep.profile for rep in self.repetitions)

    def _profile_row(self, j: int, ok: np.ndarray, z: np.ndarray) -> dict[str, float]:
        """Coverage of the profile intervals of parameter ``j`` (see the module docstring)."""
        profiles = [rep.profile for rep in self.repetitions]
        usable = ok & np.array([not p.failed for p in profiles])
        stat = np.array([p.statistic[j] for p in profiles])
        stat = np.where(usable, stat, np.nan)
        # Same sign as z: positive when the estimate is above the truth.
        root = np.sign(z) * np.sqrt(stat)
        row: dict[str, float] = {}
        for level in LEVELS:
            crit = stats.chi2.ppf(level, df=1)
            row[f"profile_cover_{round(100 * level)}"] = float(np.mean(stat < crit))
        row["profile_cover_95_summary"] = float(np.mean([p.covered_95[j] for p in profiles]))
        row["profile_root_mean"] = float(np.nanmean(root))
        row["profile_root_sd"] = float(np.nanstd(root, ddof=1))
        row["profile_width_ratio"] = float(np.nanmedian([p.width_ratio[j] for p in profiles]))
        return row

    @property
    def profile_failed(self) -> list[int]:
        """Repetitions (their index in the seed) whose profile raised ConvergenceError."""
        return [i for i, rep in enumerate(self.repetitions) if rep.profile and rep.profile.failed]

    @property
    def profile_seconds(self) -> float:
        return float(sum(rep.profile.seconds for rep in self.repetitions if rep.profile))

    @property
    def not_converged(self) -> int:
        return sum(not rep.converged for rep in self.repetitions)

    @property
    def fit_seconds(self) -> float:
        return float(sum(rep.fit_seconds for rep in self.repetitions))


def run_study(
    name: str,
    n: int,
    repetitions: int,
    seed: int,
    progress: Callable[[str], None],
    intervals: str = "wald",
) -> Study:
    study = Study(name=name, n=n)
    model_index = list(TRUTH).index(name)
    start = time.perf_counter()
    for rep in range(repetitions):
        rng = np.random.default_rng(np.random.SeedSequence([seed, model_index, n, rep]))
        study.repetitions.append(run_once(name, n, rng, intervals))
        if (rep + 1) % max(1, repetitions // 10) == 0:
            progress(f"  {LABELS[name]} n={n:,}: {rep + 1}/{repetitions}")
    study.wall_seconds = time.perf_counter() - start
    return study


# ------------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------------


def format_study(study: Study) -> str:
    table = study.table()
    count = len(study.repetitions)
    lines = [
        f"{LABELS[study.name]}, n = {study.n:,} customers"
        + (" (simulated; fitted on the repeat buyers)" if study.name == "gamma_gamma" else "")
        + f", {count} repetitions, {study.not_converged} not converged; "
        f"{study.wall_seconds:.1f} s in all ({study.fit_seconds:.1f} s fitting, "
        f"{1000 * study.fit_seconds / count:.1f} ms per fit)",
        f"  {'param':<8}{'cover 95%':>18}{'cover 90%':>11}{'cover 99%':>11}"
        f"{'z mean':>9}{'z sd':>7}{'bias %':>9}",
    ]
    for param, row in table.iterrows():
        flag = "  <-- off by > 3 SE" if abs(row["cover_95"] - 0.95) > 3 * row["se_95"] else ""
        lines.append(
            f"  {param:<8}{row['cover_95']:>10.3f} ± {row['se_95']:.3f}"
            f"{row['cover_90']:>11.3f}{row['cover_99']:>11.3f}"
            f"{row['z_mean']:>+9.2f}{row['z_sd']:>7.2f}{row['bias_pct']:>+9.2f}{flag}"
        )
    mismatch = table.index[table["cover_95"] != table["cover_95_summary"]]
    if len(mismatch):
        lines.append(f"  NOTE: summary() and z disagree on 95% coverage for {list(mismatch)}")
    if study.has_profile:
        lines.append(
            f"  profile likelihood: {len(study.profile_failed)} failed "
            f"{'(repetitions ' + str(study.profile_failed) + ') ' if study.profile_failed else ''}"
            "(a constrained fit found a higher likelihood than the fit); "
            f"{1000 * study.profile_seconds / count:.1f} ms per summary(method='profile')"
        )
        lines.append(
            f"  {'param':<8}{'cover 95%':>18}{'cover 90%':>11}{'cover 99%':>11}"
            f"{'root mean':>11}{'root sd':>9}{'width':>7}"
        )
        for param, row in table.iterrows():
            cover = row["profile_cover_95_summary"]
            flag = "  <-- off by > 3 SE" if abs(cover - 0.95) > 3 * row["se_95"] else ""
            lines.append(
                f"  {param:<8}{cover:>10.3f} ± {row['se_95']:.3f}"
                f"{row['profile_cover_90']:>11.3f}{row['profile_cover_99']:>11.3f}"
                f"{row['profile_root_mean']:>+11.2f}{row['profile_root_sd']:>9.2f}"
                f"{row['profile_width_ratio']:>7.2f}{flag}"
            )
        # Differ only if a profile is not monotone or a side is open: worth knowing.
        differ = table.index[table["profile_cover_95"] != table["profile_cover_95_summary"]]
        if len(differ):
            lines.append(
                "  NOTE: summary(method='profile') and the statistic at the truth disagree on "
                f"95% coverage for {list(differ)}"
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
    parser.add_argument("--models", nargs="+", choices=list(TRUTH), default=list(TRUTH))
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="customers per fit")
    parser.add_argument("--repetitions", type=int, default=None, help="fits per model and size")
    parser.add_argument(
        "--quick", action="store_true", help="2,357 customers, 100 repetitions: a smoke test"
    )
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument(
        "--intervals",
        choices=INTERVALS,
        default="wald",
        help="'profile' also records the profile-likelihood intervals (slower: about 0.3 s per "
        "MBG/NBD fit at 2,357 customers)",
    )
    parser.add_argument("--json", type=Path, help="also write every per-parameter figure here")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repetitions = args.repetitions or (QUICK_REPETITIONS if args.quick else DEFAULT_REPETITIONS)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    env = environment()
    if args.intervals == "profile":
        print("Coverage of the log-scale Wald intervals of summary() and of the profile-likelihood")
        print("intervals of summary(method='profile'), parameters recovered from simulated")
        print("customers (clvpredict.simulation), true values = published estimates.")
    else:
        print("Coverage of the log-scale Wald intervals of summary(), parameters recovered from")
        print("simulated customers (clvpredict.simulation), true values = published estimates.")
    print(", ".join(f"{k} {v}" for k, v in env.items()))
    print(f"repetitions per case: {repetitions}; seed {args.seed}")
    print()
    studies = []
    total = time.perf_counter()
    for name in args.models:
        for n in sizes:
            study = run_study(name, n, repetitions, args.seed, progress, args.intervals)
            studies.append(study)
            print(format_study(study))
            print(flush=True)
    print(f"total time: {time.perf_counter() - total:.1f} s")
    if args.json:
        payload = {
            "environment": env,
            "seed": args.seed,
            "repetitions": repetitions,
            "intervals": args.intervals,
            "studies": [
                {
                    "model": s.name,
                    "n": s.n,
                    "not_converged": s.not_converged,
                    "wall_seconds": s.wall_seconds,
                    "fit_seconds": s.fit_seconds,
                    **(
                        {"profile_failed": s.profile_failed, "profile_seconds": s.profile_seconds}
                        if s.has_profile
                        else {}
                    ),
                    "parameters": s.table().to_dict(orient="index"),
                }
                for s in studies
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
