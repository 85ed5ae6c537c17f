"""Time units shared by data preparation, models and CLV.

clvpredict separates two things that ``lifetimes`` conflates: purchases are always aggregated by
calendar day, and durations are then *measured* in one of the units below.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .exceptions import ClvDataError

#: Length of one unit in days. "M" is the average Gregorian month and "Y" the average Gregorian
#: year, so that 12 "M" == 1 "Y" exactly.
DAYS_PER_UNIT: dict[str, float] = {
    "D": 1.0,
    "W": 7.0,
    "M": 365.2425 / 12.0,
    "Y": 365.2425,
}

UNIT_NAMES: dict[str, str] = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}

DAYS_PER_MONTH = DAYS_PER_UNIT["M"]
DAYS_PER_YEAR = DAYS_PER_UNIT["Y"]

#: The column in which a summary of another kind than pandas (which has ``attrs``) records the
#: unit of its durations: the same value on every row.
UNIT_COLUMN = "time_unit"


def single_unit(units: pd.Series) -> str | None:
    """The one time unit among ``units`` (missing values aside), or the error that a table
    mixes rows summarised in different units."""
    distinct = pd.unique(units.dropna())
    if len(distinct) > 1:
        raise ClvDataError(
            f"The {UNIT_COLUMN!r} column holds several units {sorted(map(str, distinct))}: rows "
            "summarised in different units were put together. Summarise them again in one unit."
        )
    return str(distinct[0]) if len(distinct) else None


def recorded_unit(data: Any) -> str | None:
    """The time unit that a pandas summary records: ``attrs["time_unit"]``, else the one value
    of a ``time_unit`` column (a polars or engine summary converted with ``.to_pandas()``
    carries its unit there, and pandas operations that drop ``attrs`` keep columns); ``None``
    when it records none."""
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict) and attrs.get("time_unit") is not None:
        return attrs["time_unit"]
    if isinstance(data, pd.DataFrame) and UNIT_COLUMN in data.columns:
        return single_unit(data[UNIT_COLUMN])
    return None


def check_time_unit(time_unit: str | None, argument: str = "time_unit") -> str:
    """Return the canonical unit code, or raise :class:`ClvDataError` naming the allowed codes."""
    if isinstance(time_unit, str) and time_unit.upper() in DAYS_PER_UNIT:
        return time_unit.upper()
    raise ClvDataError(
        f"{argument}={time_unit!r} is not a supported time unit. Use one of "
        + ", ".join(f"{k!r} ({v})" for k, v in UNIT_NAMES.items())
        + "."
    )


def unit_in_days(time_unit: str) -> float:
    """Length of one ``time_unit`` in days."""
    return DAYS_PER_UNIT[check_time_unit(time_unit)]


def months_to_units(months: float, time_unit: str) -> float:
    """Convert a number of average months into ``time_unit``."""
    return months * DAYS_PER_MONTH / unit_in_days(time_unit)


def units_to_years(value, time_unit: str):
    """Convert durations measured in ``time_unit`` into years (works on scalars and arrays)."""
    return value * (unit_in_days(time_unit) / DAYS_PER_YEAR)


def duration_phrase(value: float, time_unit: str) -> str:
    """A duration as a person says it: ``"1 week"``, ``"12 months"``, ``"39 weeks"``.

    A length of whole average months in another unit (52.1775 weeks) is said in months, as
    businesses state horizons; anything else in ``time_unit``, to 3 significant digits.
    """
    unit = check_time_unit(time_unit)
    days = float(value) * DAYS_PER_UNIT[unit]
    months = days / DAYS_PER_MONTH
    if unit not in ("M", "Y") and round(months) >= 1 and abs(months - round(months)) < 1e-6:
        unit, value = "M", float(round(months))
    name = UNIT_NAMES[unit]
    if value == 1:
        return f"1 {name[:-1]}"
    return f"{value:.3g} {name}"


def next_phrase(value: float, time_unit: str) -> str:
    """``"the next week"`` for one unit, else ``"the next 12 months"`` (see duration_phrase)."""
    phrase = duration_phrase(value, time_unit)
    return f"the next {phrase[2:]}" if phrase.startswith("1 ") else f"the next {phrase}"


def check_currency(currency: object, argument: str = "currency") -> str | None:
    """The currency the log's amounts are in, as the tables and plots label money: ``None``
    (unlabelled: "currency units") or a short text such as ``"USD"``, ``"EUR"`` or ``"$"``."""
    if currency is None:
        return None
    if (
        not isinstance(currency, str)
        or not currency.strip()
        or len(currency.strip()) > 12
        or not currency.isprintable()
    ):
        raise ClvDataError(
            f"{argument}={currency!r} must be a short label of the amounts' currency (at most "
            "12 printable characters), e.g. 'USD', 'EUR' or '$'."
        )
    return currency.strip()


def money_unit(currency: str | None) -> str:
    """How an axis or a column header names money: the currency, else ``"currency units"``."""
    return currency if currency else "currency units"
