"""Speed and memory of fitting purchase models with customer covariates.

lifetimes has no covariates, so there is no other library to run beside: the comparisons are
with the same model without covariates on the same customers, and with the limit, the cost of
the fit's own likelihood evaluations (one evaluation of the covariate log-likelihood with its
gradient, times the number the fit made, and the finite-difference Hessian's).

For each model and size, customers are drawn from the model with three covariates like the
shipped data set's (a three-level channel, a 0/1 loyalty flag, a continuous age), so that
nearly every customer is a distinct row and compression gives little. Reported per fit: wall
and CPU time (minimum of ``--repeats``), peak traced memory (tracemalloc, one extra fit), and
the ratios covariates / plain and covariates / limit.

Run ``python benchmarks/bench_covariates.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import functools
import platform
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

import clvpredict as cp
from clvpredict._registry import model_spec
from clvpredict.models._covariate_math import covariate_negll_and_gradient
from clvpredict.simulation import simulate_with_covariates

TRUTH = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "paretonbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.668},
}
COEFFICIENTS = {
    "purchase.channel[web]": 0.4,
    "purchase.channel[partner]": -0.3,
    "purchase.loyalty": 0.5,
    "purchase.age_decades": 0.1,
    "dropout.loyalty": -0.8,
}


def customers(kind: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    channel = rng.choice(["store", "web", "partner"], size=n, p=[0.5, 0.35, 0.15])
    index = pd.Index([f"C{i:07d}" for i in range(n)], name="customer_id")
    design = pd.DataFrame(
        {
            "channel[web]": (channel == "web").astype(float),
            "channel[partner]": (channel == "partner").astype(float),
            "loyalty": (rng.uniform(size=n) < 0.3).astype(float),
            "age_decades": np.round(rng.normal(0.0, 1.2, size=n), 1),
        },
        index=index,
    )
    summary = simulate_with_covariates(
        kind,
        TRUTH[kind],
        COEFFICIENTS,
        design,
        rng.uniform(1.0, 78.0, size=n),
        time_unit="W",
        random_state=rng,
    )
    summary["channel"] = channel
    return summary.drop(columns=["channel[web]", "channel[partner]"])


def _fit(cls: type, settings: dict, data: pd.DataFrame):
    return cls(**settings).fit(data)


def timed(function, repeats: int) -> tuple[float, float, object]:
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def peak_memory(function) -> float:
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="customers, comma-separated")
    parser.add_argument("--models", default="bgnbd,mbgnbd,paretonbd")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"clvpredict {cp.__version__}, numpy {np.__version__}, Python {platform.python_version()}"
    )
    settings = {
        "purchase_covariates": ["channel", "loyalty", "age_decades"],
        "dropout_covariates": ["loyalty"],
        "reference_levels": {"channel": "store"},
    }
    header = (
        f"{'model':<10}{'customers':>10}{'rows':>9}{'plain s':>9}{'cov s':>9}{'cov/plain':>10}"
        f"{'evals':>7}{'limit s':>9}{'cov/limit':>10}{'MiB':>8}"
    )
    print(header)
    for kind in args.models.split(","):
        cls = model_spec(kind).cls
        for n in (int(v) for v in args.sizes.split(",")):
            data = customers(kind, n, seed=n)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plain = functools.partial(_fit, cls, {}, data)
                covariate = functools.partial(_fit, cls, settings, data)
                _, plain_cpu, _ = timed(plain, args.repeats)
                _, cov_cpu, model = timed(covariate, args.repeats)
                memory = peak_memory(covariate)
            columns, weights = model._fit_data_
            negll = functools.partial(
                covariate_negll_and_gradient, kind=kind, derivatives=cls._derivatives
            )
            theta = model.params_.to_numpy()
            _, one_cpu, _ = timed(functools.partial(negll, theta, *columns, weights), args.repeats)
            # The fit's evaluations, plus the Hessian's two per parameter.
            evaluations = model.fit_result_.n_evaluations + 2 * len(theta)
            limit = one_cpu * evaluations
            print(
                f"{kind:<10}{n:>10,}{len(weights):>9,}{plain_cpu:>9.2f}{cov_cpu:>9.2f}"
                f"{cov_cpu / plain_cpu:>10.1f}{evaluations:>7}{limit:>9.2f}"
                f"{cov_cpu / limit:>10.2f}{memory:>8.0f}"
            )


if __name__ == "__main__":
    main()
