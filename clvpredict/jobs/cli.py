"""Command-line interface: ``clvpredict <command> [options]``.

Exit codes
----------
0  success (for refresh: published)
1  unexpected error (a bug, or a failure of the machine such as a full disk)
2  bad input data or configuration
3  a model fit did not converge
4  a quality gate of refresh failed (nothing was published)
5  another refresh is running on the same output folder (this one did nothing)
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import narwhals.stable.v2 as nw
import pandas as pd

from .._version import __version__
from ..data import datasets
from ..data.engines import release
from ..exceptions import ClvDataError, ConvergenceError
from ..publishing import RefreshLocked, write_bytes_atomic, write_folder_atomic
from . import spark_engine
from .persistence import write_text_atomic
from .pipeline import (
    GateFailure,
    Settings,
    load_config,
    parse_log,
    read_table,
    run_fit,
    run_refresh,
    run_score,
    settings_covariates,
    step,
    table_bytes,
)
from .report import build_report
from .settings import _Day, _Origin, purchase_model_kinds

logger = logging.getLogger("clvpredict")

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_GATE_FAILED = 4
EXIT_LOCKED = 5


def _run_demo(args: argparse.Namespace) -> int:
    # The nightly job's own steps on the bundled data, with its settings and their checks.
    settings = Settings.from_sources(
        flags={
            "customer_col": "customer_id",
            "date_col": "date",
            "amount_col": "amount",
            "observation_end": "1998-06-30",
            "time_unit": "W",
            "horizon_months": args.horizon_months,
            "annual_discount_rate": args.discount_rate,
            "margin": args.margin,
            "currency": "USD",  # CDNOW's amounts are US dollars
            "lifetime_window_months": 6,
            "out": args.out,
        }
    )
    out_dir = Path(args.out)
    with step("load CDNOW sample"):
        tx = datasets.load_cdnow("sample")
    bundle, _, rfm, context = run_fit(settings, transactions=tx)
    bg, gg = bundle.purchase_model, bundle.spend_model
    lifetime = bundle.settings["lifetime_years"]
    with step("CLV table"):
        table = bundle.score(rfm)
    csv_path = out_dir / "clv_table.csv"
    with step(f"write {csv_path}"):
        write_text_atomic(table.to_csv(), csv_path)
    with step("HTML report (calibration to 1997-09-30, holdout to 1998-06-30)"):
        report_path = build_report(
            out_dir / "report.html",
            context["log"],
            calibration_end="1997-09-30",
            observation_end="1998-06-30",
            time_unit="W",
            horizon_months=settings.horizon_months,
            annual_discount_rate=settings.annual_discount_rate,
            margin=settings.margin,
            currency=settings.currency,
            lifetime_years=lifetime,
            purchase_model=bg,
            spend_model=gg,
        )

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
    print(f"Wrote {csv_path} and {report_path}")
    return EXIT_OK


_EXAMPLES = {
    "demo": "clvpredict demo --out ./clv-demo --margin 0.3 --horizon-months 24",
    "fit": (
        "clvpredict fit --transactions sales.parquet --customer-col client --date-col ordered_at \\\n"
        "      --amount-col revenue --time-unit W --margin 0.3 --out ./models\n"
        "  # with customer covariates (one row per customer, joined on the customer id):\n"
        "  clvpredict fit --transactions sales.parquet --covariates customers.csv \\\n"
        "      --covariate-cols channel --purchase-covariates loyalty \\\n"
        "      --reference-level channel=store --out ./models"
    ),
    "score": (
        "clvpredict score --model ./models/model.json --transactions sales.parquet "
        "--out ./scores --format parquet"
    ),
    "refresh": (
        "clvpredict refresh --config nightly.toml --transactions sales.parquet --out /srv/clv\n"
        "  # nightly.toml holds flat settings, e.g.:\n"
        '  #   customer_col = "client"\n'
        "  #   margin = 0.3\n"
        "  #   max_holdout_error = 0.2\n"
        "  #   [covariates]              # optional; after the flat settings\n"
        '  #   file = "customers.parquet"\n'
        '  #   columns = ["channel"]     # both processes; also purchase, dropout, shared\n'
        '  #   reference_levels = {channel = "store"}'
    ),
    "report": (
        "clvpredict report --transactions sales.csv --calibration-end 2024-06-30 --out ./report\n"
        "  # with customer covariates: the report adds the section 'Value by covariate'\n"
        "  clvpredict report --transactions sales.csv --calibration-end 2024-06-30 \\\n"
        "      --covariates customers.csv --covariate-cols channel --out ./report"
    ),
}


def _parents() -> dict[str, argparse.ArgumentParser]:
    """Option groups shared by several commands (defaults None: the config file may fill them)."""
    common = argparse.ArgumentParser(add_help=False)
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only log errors")
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="log every step with its duration"
    )

    data = argparse.ArgumentParser(add_help=False)
    group = data.add_argument_group("input")
    group.add_argument("--config", help="TOML file of settings (flags given here win)")
    group.add_argument(
        "--transactions",
        help=(
            "transaction log: .csv (optionally .gz), .parquet, or a directory or glob of "
            ".parquet; with --engine spark also a URI of the cluster's storage (dbfs:/..., "
            "s3a://...)"
        ),
    )
    group.add_argument(
        "--engine",
        choices=["polars", "pandas", "spark"],
        help=(
            "where the log is checked and summarised: polars streams it from the file (default); "
            "pandas loads it and reads dates in more formats without --date-format; spark reads, "
            "summarises and scores it in a Spark session and writes the predictions as a Parquet "
            'folder (needs pip install "clvpredict[spark]" and Java 17+)'
        ),
    )
    group.add_argument(
        "--spark-master",
        dest="spark_master",
        help=(
            "Spark master URL for --engine spark, e.g. local[4], spark://host:7077, yarn. "
            "Default: the session of the process that started clvpredict (a Databricks job or "
            "notebook, spark-submit --master ...), else local[*]. Spark's own settings (driver "
            "memory, ...) come from spark-defaults.conf or PYSPARK_SUBMIT_ARGS. --out is a "
            "folder of this machine that the executors write into: on a cluster, a shared "
            "mount seen at the same path"
        ),
    )
    group.add_argument("--customer-col", dest="customer_col", help="customer id column")
    group.add_argument("--date-col", dest="date_col", help="purchase date column")
    group.add_argument("--amount-col", dest="amount_col", help="purchase amount column")
    group.add_argument("--date-format", dest="date_format", help="strftime format of the dates")
    group.add_argument(
        "--returns", choices=["error", "drop", "net"], help="negative amounts (default error)"
    )
    group.add_argument(
        "--duplicates",
        choices=["keep", "drop", "error"],
        help="exactly repeated rows (default keep, with a warning)",
    )
    group.add_argument(
        "--observation-end",
        dest="observation_end",
        help="last day observed, not after today (default: the last purchase day)",
    )
    group.add_argument(
        "--after-end",
        dest="after_end",
        choices=["error", "drop"],
        help=(
            "purchases after --observation-end, or without it dated after today: refuse them "
            "(default) or drop them"
        ),
    )
    group.add_argument(
        "--time-unit",
        dest="time_unit",
        type=str.upper,
        choices=["D", "W", "M", "Y"],
        help="model time unit: days, weeks, months or years (any case)",
    )
    group.add_argument(
        "--purchase-model",
        dest="purchase_model",
        choices=purchase_model_kinds(),
        help=(
            "purchase model (default bgnbd); auto picks the best holdout forecaster among the "
            "continuous-time models; bgbb counts one transaction opportunity per --time-unit "
            "(e.g. Y for annual occasions)"
        ),
    )
    group.add_argument(
        "--holdout-months",
        dest="holdout_months",
        type=int,
        help="holdout window for auto and the refresh gate (default 6)",
    )

    clv = argparse.ArgumentParser(add_help=False)
    group = clv.add_argument_group("CLV")
    group.add_argument("--horizon-months", dest="horizon_months", type=int, help="default 12")
    group.add_argument(
        "--discount-rate",
        dest="annual_discount_rate",
        type=float,
        help="annual discount rate as a fraction (default 0.10)",
    )
    group.add_argument("--margin", type=float, help="profit margin as a fraction (default 1.0)")
    group.add_argument(
        "--currency", help="currency of the amounts, to label money with (e.g. USD, EUR, '$')"
    )
    group.add_argument(
        "--lifetime-years",
        dest="lifetime_years",
        type=float,
        help="lifetime for the simple CLV (default: estimated from churn)",
    )
    group.add_argument(
        "--lifetime-window-months",
        dest="lifetime_window_months",
        type=int,
        help="window for the churn-based lifetime estimate (default 6)",
    )

    covariate_input = argparse.ArgumentParser(add_help=False)
    group = covariate_input.add_argument_group(
        "customer covariates",
        "Static covariates of the purchase model (BG/NBD, MBG/NBD, Pareto/NBD; not the BG/BB): "
        "one row per customer in a file joined on the customer id (by Spark with --engine "
        "spark, which reads the file there too: a local path or the cluster's storage). Text "
        "columns are categories (dummy coded against a reference level), number columns are "
        "used as numbers unless --categorical-covariates names them. A config file may hold "
        'them as covariates = FILE, covariate_cols = ["channel"], ... or in a [covariates] '
        "table (file, id_col, columns, purchase, dropout, shared, categorical, "
        "reference_levels, penalty).",
    )
    group.add_argument(
        "--covariates",
        metavar="FILE",
        help=(
            "per-customer table (.csv or .parquet) with the covariate columns; every customer "
            "scored or fitted must be in it (ids are read as text from a CSV, so leading zeros "
            "stay). score needs it when the model has covariates"
        ),
    )
    group.add_argument(
        "--covariate-id-col",
        dest="covariate_id_col",
        metavar="COLUMN",
        help="customer id column of the covariates file (default: --customer-col)",
    )
    covariate_model = argparse.ArgumentParser(add_help=False)
    group = covariate_model.add_argument_group("which covariates enter which process")
    group.add_argument(
        "--covariate-cols",
        dest="covariate_cols",
        metavar="COLS",
        help=(
            "comma-separated columns that shift both the purchase rate and the dropout, one "
            "coefficient in each, e.g. channel,loyalty"
        ),
    )
    group.add_argument(
        "--purchase-covariates",
        dest="purchase_covariates",
        metavar="COLS",
        help="comma-separated columns that shift the purchase rate only",
    )
    group.add_argument(
        "--dropout-covariates",
        dest="dropout_covariates",
        metavar="COLS",
        help="comma-separated columns that shift the dropout only",
    )
    group.add_argument(
        "--shared-covariates",
        dest="shared_covariates",
        metavar="COLS",
        help="comma-separated columns that shift both processes with one shared coefficient",
    )
    group.add_argument(
        "--categorical-covariates",
        dest="categorical_covariates",
        metavar="COLS",
        help=(
            "comma-separated covariate columns of numbers to code as categories, e.g. a region "
            "code or a cohort year (levels in numeric order)"
        ),
    )
    group.add_argument(
        "--reference-level",
        dest="reference_levels",
        action="append",
        metavar="COLUMN=LEVEL",
        help=(
            "reference level of a category column (repeatable), e.g. channel=store; default: "
            "its most frequent level, or refresh's previous model's (set it in production: "
            "the most frequent level can change with the data)"
        ),
    )
    group.add_argument(
        "--covariate-penalty",
        dest="covariate_penalty",
        type=float,
        metavar="X",
        help="L2 penalty on the covariate coefficients, >= 0 (default 0: none)",
    )

    output = argparse.ArgumentParser(add_help=False)
    group = output.add_argument_group("output")
    group.add_argument("--out", help="output folder")
    group.add_argument(
        "--format", dest="output_format", choices=["csv", "parquet"], help="predictions file"
    )
    return {
        "common": common,
        "data": data,
        "covariate_input": covariate_input,
        "covariate_model": covariate_model,
        "clv": clv,
        "output": output,
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``clvpredict`` command."""
    parser = argparse.ArgumentParser(
        prog="clvpredict",
        description="Probabilistic customer lifetime value (BG/NBD + Gamma-Gamma).",
        epilog="Exit codes: 0 success (published), 1 unexpected error, 2 bad input or config, "
        "3 fit did not converge, 4 a quality gate failed, 5 another refresh is running on OUT. Run 'clvpredict COMMAND --help'.",
    )
    parser.add_argument("--version", action="version", version=f"clvpredict {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    parents = _parents()

    def command(name: str, help_text: str, groups: list[str], handler) -> argparse.ArgumentParser:
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[parents["common"], *(parents[g] for g in groups)],
            epilog="example:\n  " + _EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.set_defaults(handler=handler)
        return cmd

    demo = command(
        "demo",
        "run the whole pipeline on the bundled CDNOW data: print the model summaries and the top "
        "10 customers by predictive CLV next to their simple CLV, write the CLV table (CSV) and "
        "the HTML report",
        [],
        _run_demo,
    )
    demo.add_argument("--out", default="./clv-demo", help="output folder (default ./clv-demo)")
    demo.add_argument("--horizon-months", type=int, default=12, help="CLV horizon (default 12)")
    demo.add_argument(
        "--discount-rate", type=float, default=0.10, help="annual discount rate (default 0.10)"
    )
    demo.add_argument("--margin", type=float, default=1.0, help="profit margin (default 1.0)")

    command(
        "fit",
        "fit BG/NBD and Gamma-Gamma on a transaction log and write the model bundle OUT/model.json",
        ["data", "covariate_input", "covariate_model", "clv", "output"],
        _run_fit,
    )
    score = command(
        "score",
        "score customers with a saved model bundle: write OUT/predictions.csv (or .parquet) with "
        "p_alive, expected_purchases, expected_avg_value, predictive_clv, simple_clv",
        ["data", "covariate_input", "output"],
        _run_score,
    )
    score.add_argument("--model", help="model bundle written by fit or refresh")
    score.add_argument("--rfm", help="RFM table (.csv/.parquet) instead of --transactions")
    score.add_argument(
        "--allow-unconverged",
        dest="allow_unconverged",
        action="store_const",
        const=True,
        help="score even if a model in the bundle did not converge (otherwise exit 3)",
    )
    score.add_argument(
        "--rfm-time-unit",
        dest="rfm_time_unit",
        type=str.upper,
        choices=["D", "W", "M", "Y"],
        help="unit of recency and T in the --rfm file (required with --rfm; converted to the "
        "model's unit)",
    )
    refresh = command(
        "refresh",
        "nightly job: read, validate, fit, evaluate on a holdout, apply quality gates, then "
        "publish model.json, predictions, metrics.json and report.html to OUT, all at once: a "
        "new folder OUT/releases/<UTC time>/ made current by one switch of the link OUT/current "
        "(OUT/model.json etc. are links through it); one refresh per OUT at a time",
        ["data", "covariate_input", "covariate_model", "clv", "output"],
        _run_refresh,
    )
    gates = refresh.add_argument_group("quality gates")
    gates.add_argument(
        "--max-holdout-error",
        dest="max_holdout_error",
        type=float,
        help="largest aggregate holdout error, a fraction (default 0.25)",
    )
    gates.add_argument(
        "--max-param-drift",
        dest="max_param_drift",
        type=float,
        help="largest relative parameter change vs the previous model (default 0.5)",
    )
    gates.add_argument(
        "--accept-model-change",
        dest="accept_model_change",
        action="store_const",
        const=True,
        help="publish although tonight's model cannot be compared with the previous one "
        "(another time unit, purchase model or set of parameters: a covariate added, a "
        "reference level changed); for the one refresh after a deliberate change",
    )
    gates.add_argument(
        "--keep",
        type=int,
        help="releases kept in OUT/releases, the current one included (default 7)",
    )
    gates.add_argument(
        "--no-report", dest="report", action="store_const", const=False, help="skip report.html"
    )
    report = command(
        "report",
        "write a self-contained HTML report (holdout checks, plots, value tiers; value by "
        "covariate with --covariates) to OUT/report.html",
        ["data", "covariate_input", "covariate_model", "clv", "output"],
        _run_report,
    )
    report.add_argument(
        "--calibration-end", dest="calibration_end", required=True, help="end of calibration"
    )
    return parser


def _settings(args: argparse.Namespace):
    flags = {k: v for k, v in vars(args).items() if k not in ("handler", "command", "config")}
    config = getattr(args, "config", None)
    return Settings.from_sources(load_config(config), flags, config_name=config)


def _run_fit(args: argparse.Namespace) -> int:
    settings = _settings(args)
    bundle, _, rfm, context = run_fit(settings)
    # Spark's cached summary and log (which it is built from, so after it): the fit is done
    # with them.
    release(rfm)
    context["log"].release()
    with step("write model bundle"):
        path = bundle.save(Path(settings.out) / "model.json")
    print(bundle.purchase_model)
    print(bundle.spend_model)
    print(f"Wrote {path}")
    return EXIT_OK


def _run_score(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = Path(settings.out) / f"predictions.{settings.output_format}"
    if settings.engine == "spark":
        with ExitStack() as cleanup:
            table = run_score(settings, cleanup=cleanup)
            with step(f"score on the executors and write {path}"):
                write_folder_atomic(path, lambda folder: spark_engine.write_parquet(table, folder))
        n_customers = spark_engine.count_rows(table.sparkSession, path)
    else:
        table = run_score(settings)
        with step(f"write {path}"):
            write_bytes_atomic(table_bytes(table, settings.output_format), path)
        n_customers = len(table)
    print(f"Scored {n_customers:,} customers; wrote {path}")
    return EXIT_OK


def _run_refresh(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # The log says which step the job is at (see _configure_logging): a bar as well would
    # interleave with its lines on the same stderr.
    outcome = run_refresh(settings, progress_bar=False)
    for gate in outcome.gates:
        state = {True: "passed", False: "FAILED", None: "skipped"}[gate.passed]
        logger.info("gate %s: %s %s", gate.name, state, gate.detail)
    print(f"Published release {outcome.release} to {settings.out}: {', '.join(outcome.published)}")
    return EXIT_OK


def _run_report(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _Day().check("calibration_end", args.calibration_end, _Origin("flag"))
    # Read as fit and refresh read it; build_report joins it onto its summaries, refusing a
    # customer that is not in it by name.
    covariates = settings_covariates(settings)
    if covariates is not None and settings.engine == "spark":
        # This command's summaries come to this process as pandas from any engine, and the
        # table joined to them with them: read by Spark (a path of the cluster's storage too).
        covariates = nw.from_native(covariates).collect().to_pandas()
    tx = read_table(
        settings.transactions,
        customer_col=settings.customer_col,
        engine=settings.engine,
        spark_master=settings.spark_master,
    )
    # Parsed by the jobs' one parse_log, so the report follows every parse policy of the
    # settings (it used to drop duplicates= on the way).
    path = build_report(
        Path(settings.out) / "report.html",
        parse_log(settings, tx),
        calibration_end=args.calibration_end,
        observation_end=settings.observation_end,
        time_unit=settings.time_unit,
        horizon_months=settings.horizon_months,
        annual_discount_rate=settings.annual_discount_rate,
        margin=settings.margin,
        currency=settings.currency,
        lifetime_years=settings.lifetime_years,
        lifetime_window_months=settings.lifetime_window_months,
        purchase_model=settings.purchase_model,
        after_end=settings.after_end,
        covariate_table=covariates,
        covariate_id_col=settings.covariate_id_col or settings.customer_col,
        covariate_options=settings.covariate_options(),
    )
    print(f"Wrote {path}")
    return EXIT_OK


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("clvpredict")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # A long job's "step 3 of 13: ..." lines are INFO, shown by default: a nightly job's log
    # then says how far a run got; --quiet hides them too.
    logging.getLogger("clvpredict.progress").setLevel(logging.ERROR if args.quiet else logging.INFO)


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
    except GateFailure as exc:
        logger.error("%s", exc)
        return EXIT_GATE_FAILED
    except RefreshLocked as exc:
        logger.error("%s", exc)
        return EXIT_LOCKED
    except OSError as exc:
        # The machine, not the data or a bug: a full disk, a lost mount, a permission. One line
        # says which file and why; --verbose adds the traceback.
        logger.error(
            "the machine refused a file operation: %s. Nothing was half-published; fix it and "
            "run again.",
            exc,
            exc_info=bool(getattr(args, "verbose", False)),
        )
        return EXIT_UNEXPECTED
    except Exception:
        logger.exception("unexpected error (please report it)")
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
