"""Command-line interface: ``clvpredict <command> [options]``.

Exit codes
----------
0  success
1  unexpected error (a bug: please report it)
2  bad input data or configuration
3  a model fit did not converge
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import __version__
from .exceptions import ClvDataError, ConvergenceError
from .persistence import write_text_atomic

logger = logging.getLogger("clvpredict")

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3

_DEMO_EXAMPLE = """\
example:
  clvpredict demo --out ./clv-demo --margin 0.3 --horizon-months 24
"""


class _Step:
    """Log how long a pipeline step took (``--verbose`` shows it)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> _Step:
        self.start = time.perf_counter()
        logger.info("%s ...", self.name)
        return self

    def __exit__(self, *exc: object) -> None:
        logger.info("%s done in %.2f s", self.name, time.perf_counter() - self.start)


def _run_demo(args: argparse.Namespace) -> int:
    import warnings

    from . import datasets
    from .beta_geo import BetaGeoModel
    from .clv import clv_table, estimate_lifetime_years
    from .data import rfm_summary
    from .exceptions import ConvergenceWarning
    from .gamma_gamma import GammaGammaModel

    out_dir = Path(args.out)
    with _Step("load CDNOW sample"):
        tx = datasets.load_cdnow("sample")
    with _Step("RFM summary (weeks, observation to 1998-06-30)"):
        rfm = rfm_summary(
            tx, "customer_id", "date", "amount", observation_end="1998-06-30", time_unit="W"
        )
    with _Step("fit BG/NBD and Gamma-Gamma"), warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        bg = BetaGeoModel(on_nonconvergence="raise").fit(rfm)
        gg = GammaGammaModel(on_nonconvergence="raise").fit(rfm)
    with _Step("expected lifetime from churn between 6-month windows"):
        lifetime = estimate_lifetime_years(tx, "customer_id", "date", window_months=6)
    with _Step("CLV table"):
        table = clv_table(
            bg,
            gg,
            rfm,
            lifetime_years=lifetime,
            horizon_months=args.horizon_months,
            annual_discount_rate=args.discount_rate,
            margin=args.margin,
        )
    csv_path = out_dir / "clv_table.csv"
    with _Step(f"write {csv_path}"):
        write_text_atomic(table.to_csv(), csv_path)

    print(bg)
    print()
    print(gg)
    print()
    print(
        f"CLV over the next {args.horizon_months} months from 1998-06-30 "
        f"(margin {args.margin:g}, discount {args.discount_rate:.0%}/year; simple formula with "
        f"an estimated lifetime of {lifetime:.2f} years):"
    )
    top = table.nlargest(10, "predictive_clv")[
        [
            "frequency",
            "recency",
            "T",
            "p_alive",
            "expected_purchases",
            "predictive_clv",
            "simple_clv",
        ]
    ]
    with pd.option_context("display.width", 120, "display.float_format", "{:,.2f}".format):
        print(top.to_string())
    print()
    print(
        f"Totals over {len(table):,} customers: predictive CLV {table['predictive_clv'].sum():,.0f}, "
        f"simple CLV {table['simple_clv'].sum():,.0f} (US dollars)."
    )
    print(f"Wrote {csv_path}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``clvpredict`` command."""
    parser = argparse.ArgumentParser(
        prog="clvpredict",
        description="Probabilistic customer lifetime value (BG/NBD + Gamma-Gamma).",
        epilog="Exit codes: 0 success, 1 unexpected error, 2 bad input or config, "
        "3 fit did not converge.",
    )
    parser.add_argument("--version", action="version", version=f"clvpredict {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only log errors")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", metavar="command")

    demo = sub.add_parser(
        "demo",
        help="run the whole pipeline on the bundled CDNOW data",
        description="Fit BG/NBD and Gamma-Gamma on the bundled CDNOW sample, print the model "
        "summaries and the top 10 customers by predictive CLV next to their simple-formula CLV, "
        "and write the CLV table as CSV.",
        epilog=_DEMO_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", default="./clv-demo", help="output folder (default ./clv-demo)")
    demo.add_argument(
        "--horizon-months", type=int, default=12, help="CLV horizon in months (default 12)"
    )
    demo.add_argument(
        "--discount-rate",
        type=float,
        default=0.10,
        help="annual discount rate as a fraction (default 0.10)",
    )
    demo.add_argument(
        "--margin", type=float, default=1.0, help="profit margin as a fraction (default 1.0)"
    )
    demo.set_defaults(handler=_run_demo)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("clvpredict")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clvpredict`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    _configure_logging(args)
    try:
        return int(args.handler(args))
    except ClvDataError as exc:
        logger.error("bad input: %s", exc)
        return EXIT_BAD_INPUT
    except ConvergenceError as exc:
        logger.error("%s", exc)
        return EXIT_NOT_CONVERGED
    except Exception:
        logger.exception("unexpected error (please report it)")
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
