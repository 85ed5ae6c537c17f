"""Settings of the jobs: every setting's type and range, checked before any work starts.

A setting comes from the defaults, a TOML config file or a command-line flag (flags win), and
each value is checked as it is read, so a message names the setting, the value, where it came
from and the fix. The settings stored in a model bundle are checked the same way when it is
loaded. The purchase models a job can use are the registry's.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, NoReturn

import pandas as pd

from .._registry import all_models, model_spec
from .._units import DAYS_PER_MONTH, check_currency, unit_in_days
from ..data import transactions as data
from ..exceptions import ClvDataError
from ..models.model_file import ModelFileError

logger = logging.getLogger("clvpredict.settings")

__all__ = [
    "SETTING_SPECS",
    "BundleSettingsError",
    "Settings",
    "check_bundle_settings",
    "is_discrete",
    "load_config",
    "purchase_model_class",
    "purchase_model_kinds",
]

# --------------------------------------------------------------------------------------------
# Settings: each one's type and range, checked before any work starts
# --------------------------------------------------------------------------------------------


def purchase_model_kinds() -> list[str]:
    """The purchase models the jobs can use, by their name in settings and on the command line
    (the registry's kinds), and ``"auto"``."""
    return [spec.kind for spec in all_models("purchase")] + ["auto"]


#: Command-line flags whose name is not ``--`` plus the setting's name with dashes.
_FLAG_NAMES = {
    "annual_discount_rate": "--discount-rate",
    "output_format": "--format",
    "report": "--no-report",
    "reference_levels": "--reference-level",
}

#: The keys of a ``[covariates]`` table in a config file, and the settings they stand for.
COVARIATE_TABLE_KEYS = {
    "file": "covariates",
    "id_col": "covariate_id_col",
    "columns": "covariate_cols",
    "purchase": "purchase_covariates",
    "dropout": "dropout_covariates",
    "shared": "shared_covariates",
    "categorical": "categorical_covariates",
    "reference_levels": "reference_levels",
    "penalty": "covariate_penalty",
}


def _shown(value: Any) -> str:
    """A flag's value as the user typed it (argparse has made 30 into 30.0; a list of columns
    was typed ``a,b``, reference levels ``channel=store``)."""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    if isinstance(value, Mapping):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def _written(value: Any) -> str:
    """A value as a TOML or JSON file writes it: "0.3" (text), true, 30, nan."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | list | tuple):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return repr(value)


@dataclass(frozen=True)
class _Origin:
    """Where a setting's value came from: it decides how the error names it and the fix."""

    kind: str  # "config", "flag", "bundle" or "python"
    where: str = ""  # the config or model file
    key: str = ""  # how the config file names the setting, when not by its name

    def flag(self, setting: str) -> str:
        return _FLAG_NAMES.get(setting, "--" + setting.replace("_", "-"))

    def name(self, setting: str, value: Any) -> str:
        if self.kind == "flag":
            return f"{self.flag(setting)} {_shown(value)} (setting {setting})"
        if self.kind == "config":
            place = f"the config file {self.where}" if self.where else "the config"
            return f"{self.key or setting} = {_written(value)} in {place}"
        if self.kind == "bundle":
            return f"{self.where}: its setting {setting} = {_written(value)}"
        return f"{setting}={value!r}"

    def fix(self, setting: str, text: str, note: str = "") -> str:
        """How to give the value ``text`` in this source (``note`` is for config files)."""
        if self.kind == "config":
            return f"write {self.key or setting} = {text}{note}"
        if self.kind == "flag":
            return f"pass {self.flag(setting)} {text}"
        if self.kind == "bundle":
            return f"it should read {setting} = {text}"
        return f"pass {setting}={text}"


class _Spec:
    """A setting's type and range. ``check`` returns the value in canonical form."""

    optional = False

    def check(self, setting: str, value: Any, origin: _Origin) -> Any:
        if value is None and self.optional:
            return None
        return self.convert(setting, value, origin)

    def convert(self, setting: str, value: Any, origin: _Origin) -> Any:
        raise NotImplementedError

    @staticmethod
    def refuse(setting: str, value: Any, origin: _Origin, problem: str, fix: str = "") -> NoReturn:
        message = f"{origin.name(setting, value)}: {problem}" + (f"; {fix}." if fix else ".")
        if origin.kind == "bundle":
            message += (
                " Re-fit the model with this version of clvpredict (clvpredict fit): the file "
                "holds a setting that scoring cannot use."
            )
        raise ClvDataError(message)


class _Path(_Spec):
    def __init__(self, optional: bool = False) -> None:
        self.optional = optional

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            fix = origin.fix(setting, '"path/to/file"', " (in quotes)")
            self.refuse(setting, value, origin, "must be a file path (text)", fix)
        if not value.strip():
            self.refuse(setting, value, origin, "must not be empty", "give a file path")
        return value


class _Column(_Spec):
    def __init__(self, optional: bool = False) -> None:
        self.optional = optional

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        if not isinstance(value, str):
            # A CSV header is text; a number here is most likely a name written unquoted.
            number = isinstance(value, int | float) and not isinstance(value, bool)
            fix = origin.fix(setting, f'"{_shown(value)}"' if number else '"name"', " (in quotes)")
            self.refuse(setting, value, origin, "must be a column name (text)", fix)
        if not value:
            self.refuse(setting, value, origin, "must not be empty", "give the column's name")
        return value


class _DateFormat(_Spec):
    optional = True
    example = "use strftime codes, e.g. '%Y-%m-%d' for 2024-06-30 or '%d/%m/%Y' for 30/06/2024"

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        if not isinstance(value, str):
            self.refuse(setting, value, origin, "must be a strftime format (text)", self.example)
        if "%" not in value:
            problem = "has no %-code, so it cannot read a date"
            self.refuse(setting, value, origin, problem, self.example)
        sample = datetime(2024, 6, 30, 13, 45, 10)
        try:
            datetime.strptime(sample.strftime(value), value)
        except ValueError as exc:
            problem = f"is not a usable strftime format ({exc})"
            self.refuse(setting, value, origin, problem, self.example)
        return value


class _Choice(_Spec):
    def __init__(
        self,
        *choices: str,
        upper: bool = False,
        optional: bool = False,
        among: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        # ``among`` is asked at validation time: the registry is complete only once the package
        # has been imported.
        self._choices, self._among = choices, among
        self.upper, self.optional = upper, optional

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._among()) if self._among is not None else self._choices

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        # Time-unit codes are case-insensitive everywhere in the library; made canonical here
        # so that nothing downstream ever sees "w".
        canonical = value.upper() if self.upper and isinstance(value, str) else value
        if not isinstance(value, str) or canonical not in self.choices:
            listed = ", ".join(map(repr, self.choices))
            extra = " (days, weeks, months, years; any case)" if self.upper else ""
            self.refuse(setting, value, origin, f"must be one of {listed}{extra}")
        return canonical


class _Day(_Spec):
    optional = True

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        if isinstance(value, date):
            # TOML dates arrive as dates; the jobs take text.
            value = value.isoformat()
        day = pd.NaT
        if isinstance(value, str):
            try:
                day = pd.Timestamp(value)
            except (TypeError, ValueError):
                pass
        if pd.isna(day):
            fix = "give a calendar day as YYYY-MM-DD, e.g. 2024-06-30"
            self.refuse(setting, value, origin, "is not a date", fix)
        today = data._today()
        if day.tz_localize(None).normalize() > pd.Timestamp(today):
            self.refuse(
                setting,
                value,
                origin,
                f"is after today ({today}, the latest date in any time zone): the customers "
                "cannot have been observed until then",
                "give a date of today or earlier, or leave it out to end on the last purchase day",
            )
        return value


class _Number(_Spec):
    """A finite number in a range. Ranges that end at 1 are fractions, where 30 reads as 30%."""

    def __init__(
        self,
        low: float,
        high: float = math.inf,
        *,
        low_open: bool = False,
        high_open: bool = False,
        whole: bool = False,
        optional: bool = False,
        example: str = "0.3",
    ) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.whole, self.optional, self.example = whole, optional, example
        bounds = [f"{'>' if low_open else '>='} {low:g}"]
        if high != math.inf:
            bounds.append(f"{'<' if high_open else '<='} {high:g}")
        self.bounds = " and ".join(bounds) + (" (a fraction: 0.3 means 30%)" if high == 1 else "")
        self.requirement = f"must be a {'whole ' if whole else ''}number {self.bounds}"

    def convert(self, setting: str, value: Any, origin: _Origin) -> float | int:
        example = origin.fix(setting, self.example)
        if isinstance(value, bool):
            self.refuse(setting, value, origin, "true/false is not a number", example)
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                self.refuse(setting, value, origin, self.requirement, example)
            fix = origin.fix(setting, value.strip(), " without quotes")
            self.refuse(setting, value, origin, "is text, not a number", fix)
        if not isinstance(value, int | float):
            self.refuse(setting, value, origin, self.requirement, example)
        if not math.isfinite(value):
            problem = f"must be a finite number {self.bounds}"
            self.refuse(setting, value, origin, problem, example)
        if self.whole and not isinstance(value, int):
            self.refuse(setting, value, origin, self.requirement, example)
        too_low = value <= self.low if self.low_open else value < self.low
        too_high = value >= self.high if self.high_open else value > self.high
        if too_low or too_high:
            fix = example
            if self.high == 1 and 1 < value <= 100:
                fraction = f"{value / 100:.6f}".rstrip("0")
                fraction += "0" * max(0, 4 - len(fraction))
                fix = f"{_shown(value)} looks like a percentage: use {fraction}"
            self.refuse(setting, value, origin, self.requirement, fix)
        return value


class _Currency(_Spec):
    optional = True

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        try:
            return check_currency(value, setting)
        except ClvDataError:
            pass
        fix = origin.fix(setting, '"USD"', " (at most 12 characters, in quotes)")
        self.refuse(setting, value, origin, "must be a short label of the amounts' currency", fix)


class _Flag(_Spec):
    def convert(self, setting: str, value: Any, origin: _Origin) -> bool:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            fix = origin.fix(setting, value.strip().lower(), " without quotes")
            self.refuse(setting, value, origin, "is text, not true or false", fix)
        if not isinstance(value, bool):
            self.refuse(setting, value, origin, "must be true or false")
        return value


class _Engine(_Choice):
    """The engine; ``"spark"`` also needs pyspark, which only the ``[spark]`` extra installs."""

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        engine = super().convert(setting, value, origin)
        if engine == "spark" and importlib.util.find_spec("pyspark") is None:
            self.refuse(
                setting,
                value,
                origin,
                "needs pyspark, which is not installed",
                'install the Spark extra: pip install "clvpredict[spark]" (Spark also needs '
                "Java 17 or later)",
            )
        return engine


class _SparkMaster(_Spec):
    """A Spark master URL, as ``spark-submit --master`` takes it."""

    optional = True
    form = re.compile(r"^(local(\[[^\]]+\])?|local-cluster\[[^\]]+\]|yarn|(spark|k8s|mesos)://.+)$")
    example = "e.g. local[*], local[4], spark://host:7077, yarn or k8s://https://host:443"

    def convert(self, setting: str, value: Any, origin: _Origin) -> str:
        if not isinstance(value, str) or not value.strip():
            self.refuse(setting, value, origin, "must be a Spark master URL (text)", self.example)
        if not self.form.match(value):
            self.refuse(setting, value, origin, "is not a Spark master URL", self.example)
        return value


class _Columns(_Spec):
    """Column names: a list of text, or one text of names separated by commas (as the command
    line takes them: ``channel,loyalty``). Canonical: a list, or None for none."""

    optional = True
    example = '["channel", "loyalty"]'

    def convert(self, setting: str, value: Any, origin: _Origin) -> list[str] | None:
        if isinstance(value, str):
            names = [part.strip() for part in value.split(",")]
        elif isinstance(value, list | tuple):
            names = list(value)
        else:
            fix = origin.fix(setting, "channel,loyalty" if origin.kind == "flag" else self.example)
            self.refuse(setting, value, origin, "must be a list of column names", fix)
        for name in names:
            if not isinstance(name, str):
                shown = f'"{_shown(name)}"' if isinstance(name, int | float) else '"name"'
                fix = origin.fix(setting, f"[{shown}]", " (names in quotes)")
                self.refuse(setting, value, origin, "must name columns as text", fix)
            if not name:
                self.refuse(setting, value, origin, "has an empty column name", "drop it")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            self.refuse(setting, value, origin, f"names {repeated} more than once")
        return names or None


class _ReferenceLevels(_Spec):
    """A categorical covariate's reference level, by column: ``{"channel": "store"}`` (a TOML
    table), or ``COLUMN=LEVEL`` texts (the command line's repeated ``--reference-level``).
    Levels are text, as the covariates compare them (``1`` is the level ``"1"``)."""

    optional = True

    def convert(self, setting: str, value: Any, origin: _Origin) -> dict[str, str] | None:
        pairs: list[tuple[Any, Any]] = []
        if isinstance(value, Mapping):
            pairs = list(value.items())
        elif isinstance(value, str | list | tuple):
            for item in [value] if isinstance(value, str) else value:
                if not isinstance(item, str) or "=" not in item or item.startswith("="):
                    fix = (
                        origin.fix(setting, "channel=store")
                        if origin.kind == "flag"
                        else origin.fix(setting, '{channel = "store"}', " (a table)")
                    )
                    self.refuse(setting, item, origin, "must be COLUMN=LEVEL", fix)
                column, level = item.split("=", 1)
                pairs.append((column.strip(), level.strip()))
        else:
            fix = origin.fix(setting, '{channel = "store"}', " (a table)")
            self.refuse(setting, value, origin, "must map covariate columns to levels", fix)
        levels: dict[str, str] = {}
        for column, level in pairs:
            if isinstance(level, bool):
                level = str(level)
            elif isinstance(level, int | float) and not isinstance(level, bool):
                level = str(int(level)) if float(level).is_integer() else str(level)
            if not isinstance(level, str) or not level or not column:
                self.refuse(setting, value, origin, f"gives column {column!r} no usable level")
            if column in levels and levels[column] != level:
                problem = f"gives {column!r} two reference levels, {levels[column]!r} and {level!r}"
                self.refuse(setting, value, origin, problem)
            levels[column] = level
        return levels or None


_TIME_UNIT = _Choice("D", "W", "M", "Y", upper=True)

#: Every setting's type and range. A Settings field without an entry here is a bug.
SETTING_SPECS: dict[str, _Spec] = {
    "transactions": _Path(optional=True),
    "rfm": _Path(optional=True),
    "model": _Path(optional=True),
    "out": _Path(),
    "customer_col": _Column(),
    "date_col": _Column(),
    "amount_col": _Column(),
    "date_format": _DateFormat(),
    "returns": _Choice("error", "drop", "net"),
    "duplicates": _Choice("keep", "drop", "error"),
    "after_end": _Choice("error", "drop"),
    "observation_end": _Day(),
    "time_unit": _TIME_UNIT,
    "horizon_months": _Number(1, whole=True, example="12"),
    # A rate of 100% a year or more is a percentage typed as a number, not a discount rate.
    "annual_discount_rate": _Number(0, 1, high_open=True, example="0.10"),
    "margin": _Number(0, 1),
    "currency": _Currency(),
    "lifetime_years": _Number(0, low_open=True, optional=True, example="2.5"),
    "lifetime_window_months": _Number(1, whole=True, example="6"),
    "purchase_model": _Choice(among=purchase_model_kinds),
    "holdout_months": _Number(1, whole=True, example="6"),
    # Errors and drifts beyond 100% are not gates; and the cap catches "20" meant as 20%.
    "max_holdout_error": _Number(0, 1, example="0.25"),
    "max_param_drift": _Number(0, 1, example="0.5"),
    "keep": _Number(1, whole=True, example="7"),
    "output_format": _Choice("csv", "parquet"),
    "report": _Flag(),
    "allow_unconverged": _Flag(),
    "accept_model_change": _Flag(),
    "rfm_time_unit": _Choice("D", "W", "M", "Y", upper=True, optional=True),
    "engine": _Engine("polars", "pandas", "spark"),
    "spark_master": _SparkMaster(),
    "covariates": _Path(optional=True),
    "covariate_id_col": _Column(optional=True),
    "covariate_cols": _Columns(),
    "purchase_covariates": _Columns(),
    "dropout_covariates": _Columns(),
    "shared_covariates": _Columns(),
    "categorical_covariates": _Columns(),
    "reference_levels": _ReferenceLevels(),
    "covariate_penalty": _Number(0, example="0.1"),
}


@dataclass
class Settings:
    """Everything a job needs, from a TOML config file and command-line flags (flags win).

    Durations carry their unit in the name; money settings are fractions. Every field's type
    and range is in :data:`SETTING_SPECS`, checked by :meth:`validate`.
    """

    transactions: str | None = None
    rfm: str | None = None
    model: str | None = None
    out: str = "."
    customer_col: str = "customer_id"
    date_col: str = "date"
    amount_col: str = "amount"
    date_format: str | None = None
    returns: str = "error"
    duplicates: str = "keep"
    after_end: str = "error"
    observation_end: str | None = None
    time_unit: str = "W"
    horizon_months: int = 12
    annual_discount_rate: float = 0.10
    margin: float = 1.0
    # The amounts' currency ("USD", "EUR", "$"): labels money in the report and the tables.
    currency: str | None = None
    lifetime_years: float | None = None
    lifetime_window_months: int = 6
    purchase_model: str = "bgnbd"
    holdout_months: int = 6
    max_holdout_error: float = 0.25
    max_param_drift: float = 0.5
    keep: int = 7
    output_format: str = "csv"
    report: bool = True
    rfm_time_unit: str | None = None
    allow_unconverged: bool = False  # score even with a model whose fit did not converge
    # Refresh: publish although tonight's model cannot be compared with the last one (another
    # time unit, purchase model or set of parameters), for the one run after a deliberate change.
    accept_model_change: bool = False
    # Where the transaction log is read, checked and summarised: polars streams it from the
    # file; pandas loads it (and reads dates in more formats without a date_format); spark
    # reads, summarises and scores it in a Spark session (the [spark] extra).
    engine: str = "polars"
    # The Spark master for engine "spark"; None: the session this process already has (a
    # Databricks notebook or job, spark-submit), or else local[*].
    spark_master: str | None = None
    # Customer covariates of the purchase model (BG/NBD, MBG/NBD, Pareto/NBD): a per-customer
    # table file (CSV or Parquet; ids read as text from a CSV) joined on the customer id, its
    # id column (default: customer_col), and which of its columns enter which process:
    # covariate_cols both (one coefficient in each), purchase_covariates the purchase rate,
    # dropout_covariates the dropout, shared_covariates both with one coefficient. Text columns
    # are categories (dummy coded against reference_levels, default the largest level), number
    # columns numbers unless categorical_covariates names them (a region code: categories in
    # numeric order). covariate_penalty is an L2 penalty on the coefficients. A config file may
    # group them in a [covariates] table (file, id_col, columns, purchase, dropout, shared,
    # categorical, reference_levels, penalty). `score` needs the file when the model has
    # covariates.
    covariates: str | None = None
    covariate_id_col: str | None = None
    covariate_cols: list[str] | None = None
    purchase_covariates: list[str] | None = None
    dropout_covariates: list[str] | None = None
    shared_covariates: list[str] | None = None
    categorical_covariates: list[str] | None = None
    reference_levels: dict[str, str] | None = None
    covariate_penalty: float = 0.0

    @classmethod
    def from_sources(
        cls,
        config: Mapping[str, Any] | None = None,
        flags: Mapping[str, Any] | None = None,
        *,
        config_name: str | os.PathLike[str] | None = None,
    ) -> Settings:
        """Defaults, overridden by the config file, overridden by flags that were given.

        Every value is checked as it is read, the config file's too when a flag overrides it
        (a broken file would break the next run), before any job starts.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        origins: dict[str, _Origin] = {}
        config, keyed = _flat_config(config or {}, str(config_name or ""))
        sources = (
            (_Origin("config", str(config_name or "")), config),
            (_Origin("flag"), flags or {}),
        )
        for source_origin, source in sources:
            for key, value in source.items():
                origin = keyed.get(key, source_origin) if source is config else source_origin
                name = key.replace("-", "_")
                if name not in known:
                    if origin.kind == "config":
                        place = f"the config file {origin.where}" if origin.where else "the config"
                        raise ClvDataError(
                            f"Unknown setting {key!r} in {place}; known settings: {sorted(known)}."
                        )
                    continue
                if value is not None:
                    values[name] = SETTING_SPECS[name].check(name, value, origin)
                    origins[name] = origin
        inputs = [name for name in ("transactions", "rfm") if name in values]
        if len(inputs) == 2 and {origins[n].kind for n in inputs} == {"config", "flag"}:
            # A flag overrides the config's other input too: `score --rfm FILE` with the config
            # of a refresh scores FILE, and says so.
            dropped = next(n for n in inputs if origins[n].kind == "config")
            kept = "rfm" if dropped == "transactions" else "transactions"
            logger.info(
                "%s is given: %s is not read.",
                origins[kept].name(kept, values[kept]),
                origins[dropped].name(dropped, values.pop(dropped)),
            )
            origins.pop(dropped)
        settings = cls(**values)
        settings.validate(origins)
        return settings

    @property
    def covariate_lists(self) -> dict[str, list[str]]:
        """The columns of each process, as the purchase models take them:
        ``purchase_covariates`` and ``dropout_covariates`` (each with ``covariate_cols``
        added) and ``shared_covariates``."""
        both = list(self.covariate_cols or [])
        return {
            "purchase_covariates": list(dict.fromkeys([*both, *(self.purchase_covariates or [])])),
            "dropout_covariates": list(dict.fromkeys([*both, *(self.dropout_covariates or [])])),
            "shared_covariates": list(self.shared_covariates or []),
        }

    @property
    def covariate_columns(self) -> list[str]:
        """Every covariate column named, each once."""
        return list(dict.fromkeys(c for names in self.covariate_lists.values() for c in names))

    def covariate_options(self) -> dict[str, Any]:
        """The purchase model's covariate settings (empty without covariates)."""
        if not self.covariate_columns:
            return {}
        return {
            **self.covariate_lists,
            "categorical_covariates": list(self.categorical_covariates or []),
            "reference_levels": dict(self.reference_levels or {}),
            "covariate_penalty": self.covariate_penalty,
        }

    def validate(self, origins: Mapping[str, _Origin] | None = None) -> None:
        """Check every setting's type and range, make it canonical (``time_unit="w"`` becomes
        ``"W"``), then the combinations; a bad one raises :class:`ClvDataError` naming the
        setting, its value, where it came from and the fix."""
        origins = origins or {}
        for item in fields(self):
            spec = SETTING_SPECS.get(item.name)
            if spec is None:  # pragma: no cover - caught by the test of every field
                raise TypeError(f"Setting {item.name!r} has no entry in SETTING_SPECS.")
            origin = origins.get(item.name, _Origin("python"))
            setattr(self, item.name, spec.check(item.name, getattr(self, item.name), origin))
        if self.transactions is not None and self.rfm is not None:
            named = [
                origins.get(name, _Origin("python")).name(name, getattr(self, name))
                for name in ("transactions", "rfm")
            ]
            raise ClvDataError(
                f"Both {named[0]} and {named[1]} are given: a job reads one input, the "
                "transaction log or an RFM table. Give only the one to read."
            )
        self._validate_covariates(origins)
        if self.engine == "spark" and self.output_format != "parquet":
            given = origins.get("output_format")
            if given is not None:
                _Spec.refuse(
                    "output_format",
                    self.output_format,
                    given,
                    "the spark engine writes predictions as Parquet only (a folder of part "
                    "files written by the executors)",
                    given.fix("output_format", '"parquet"' if given.kind == "config" else "parquet")
                    + ", or leave it out",
                )
            self.output_format = "parquet"
        if self.spark_master is not None and self.engine != "spark":
            logger.warning(
                "spark_master=%r is ignored: the engine is %r, not 'spark'.",
                self.spark_master,
                self.engine,
            )
        if (
            is_discrete(self.purchase_model)
            and self.holdout_months * DAYS_PER_MONTH < unit_in_days(self.time_unit) - 1e-9
        ):
            raise ClvDataError(
                f"holdout_months={self.holdout_months} is shorter than one period of "
                f"time_unit={self.time_unit!r}, the BG/BB's transaction opportunity: the holdout "
                "check needs at least one whole period (e.g. holdout_months=12 for annual "
                "periods)."
            )

    def _validate_covariates(self, origins: Mapping[str, _Origin]) -> None:
        """The covariate settings together: columns need the file, the BG/BB takes none, a
        column is named either for both processes (covariate_cols, or shared) or for one, and
        a reference level or a categorical column is a named column."""

        def named(setting: str) -> str:
            return origins.get(setting, _Origin("python")).name(setting, getattr(self, setting))

        stray = [c for c in self.reference_levels or {} if c not in self.covariate_columns]
        if stray:
            raise ClvDataError(
                f"{named('reference_levels')} gives a reference level to {stray}, which no "
                f"covariate setting names (covariates: {self.covariate_columns})."
            )
        stray = [c for c in self.categorical_covariates or [] if c not in self.covariate_columns]
        if stray:
            raise ClvDataError(
                f"{named('categorical_covariates')} names {stray}, which no covariate setting "
                f"names (covariates: {self.covariate_columns}): it only says how a covariate "
                "column is coded. Name the column in covariate_cols, purchase_covariates, "
                "dropout_covariates or shared_covariates too."
            )
        given = [n for n in _COVARIATE_LISTS if getattr(self, n)]
        if given and self.covariates is None:
            raise ClvDataError(
                f"{named(given[0])} names covariate columns, but no covariates file is given: "
                "pass --covariates FILE (setting covariates), a table with one row per "
                "customer holding those columns."
            )
        if not given:
            return
        if is_discrete(self.purchase_model):
            raise ClvDataError(
                f"{named(given[0])}: the {self.purchase_model} purchase model (BG/BB) takes no "
                "covariates; covariates enter the BG/NBD, MBG/NBD and Pareto/NBD (purchase_model "
                "bgnbd, mbgnbd, paretonbd or auto). Choose one of them, or leave the covariates "
                "out."
            )
        shared = set(self.shared_covariates or [])
        for setting in ("covariate_cols", "purchase_covariates", "dropout_covariates"):
            both = [c for c in getattr(self, setting) or [] if c in shared]
            if both:
                raise ClvDataError(
                    f"{named(setting)} and {named('shared_covariates')} both name {both}: a "
                    "shared covariate enters both processes with one coefficient already. Name "
                    "each column in one of them."
                )
        both = set(self.covariate_cols or [])
        for setting, other in (
            ("purchase_covariates", "dropout"),
            ("dropout_covariates", "purchase"),
        ):
            twice = [c for c in getattr(self, setting) or [] if c in both]
            if twice:
                raise ClvDataError(
                    f"{named('covariate_cols')} and {named(setting)} both name {twice}. "
                    "covariate_cols ([covariates] columns in a config file, --covariate-cols on "
                    "the command line) does not choose the columns to read from the file: it "
                    "names the columns that shift both the purchase rate and the dropout, one "
                    f"coefficient in each. So {twice} would get a {other} coefficient too, "
                    f"whether {other}_covariates names them or not. Name each column once: in "
                    "covariate_cols for both processes, or in purchase_covariates and/or "
                    "dropout_covariates (every column named is read from the file)."
                )


#: The settings that name covariate columns.
_COVARIATE_LISTS = (
    "covariate_cols",
    "purchase_covariates",
    "dropout_covariates",
    "shared_covariates",
)


def _flat_config(
    config: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, _Origin]]:
    """A config's settings with its ``[covariates]`` table (if any) made flat settings, and
    the origins that name those as the file does (``[covariates] file``)."""
    table = config.get("covariates")
    if not isinstance(table, Mapping):
        return dict(config), {}
    flat = {k: v for k, v in config.items() if k != "covariates"}
    keyed: dict[str, _Origin] = {}
    place = f"the config file {where}" if where else "the config"
    for key, value in table.items():
        setting = COVARIATE_TABLE_KEYS.get(key)
        if setting is None:
            raise ClvDataError(
                f"Unknown key {key!r} in the [covariates] table of {place}; known keys: "
                f"{sorted(COVARIATE_TABLE_KEYS)}."
            )
        if setting in flat:
            raise ClvDataError(
                f"{place} sets {setting} twice: as {setting} and as {key} in its [covariates] "
                "table. Keep one."
            )
        flat[setting] = value
        keyed[setting] = _Origin("config", where, key=f"[covariates] {key}")
    return flat, keyed


#: Bundle settings that scoring uses or reports, checked when a model file is loaded.
_BUNDLE_SETTINGS = (
    "time_unit",
    "horizon_months",
    "annual_discount_rate",
    "margin",
    "currency",
    "lifetime_years",
    "observation_end",
    "purchase_model",
    "customer_col",
)


class BundleSettingsError(ModelFileError):
    """A model bundle is intact but holds a setting that scoring cannot use."""


def check_bundle_settings(settings: dict[str, Any], source: str) -> dict[str, Any]:
    """The settings of a loaded model bundle, checked like :class:`Settings` (a file written
    by an older version may hold e.g. ``margin = "0.3"``); canonical values replace theirs.

    Raises
    ------
    BundleSettingsError
        Naming the file, the setting and its value.
    """
    origin = _Origin("bundle", source)
    checked = dict(settings)
    try:
        for name in _BUNDLE_SETTINGS:
            if name in checked:
                checked[name] = SETTING_SPECS[name].check(name, checked[name], origin)
    except ClvDataError as exc:
        raise BundleSettingsError(str(exc)) from exc
    return checked


def load_config(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Read a TOML config file of flat ``name = value`` settings (see :class:`Settings`)."""
    if path is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ClvDataError(f"Config file {str(path)!r} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ClvDataError(f"Config file {str(path)!r} is not valid TOML: {exc}.") from exc


def purchase_model_class(kind: str) -> type:
    """The purchase model class for a settings name such as ``"bgnbd"``."""
    return model_spec(kind, "purchase", setting="purchase_model").cls


def is_discrete(kind: str) -> bool:
    """Whether the purchase model named ``kind`` counts discrete periods (the BG/BB); the
    summaries are then made with ``discrete=True``. ``"auto"`` chooses among continuous models."""
    return kind != "auto" and model_spec(kind, "purchase", setting="purchase_model").discrete_time
