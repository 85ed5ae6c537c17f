"""Customer covariates as data: joined onto a summary, checked, and coded as design matrices.

Static covariates
-----------------
A static covariate is one value per customer that does not change over the observation period:
the acquisition channel, a region, a gender, the campaign that brought the customer, an age at
sign-up. In the purchase models (Pareto/NBD, BG/NBD, MBG/NBD) a customer's covariates shift
their purchase rate and their dropout; how they enter the parameters is fixed in the models'
layer. This module only turns a per-customer table into numbers:

* :func:`attach_covariates` joins a per-customer table (pandas or polars) onto an RFM summary
  indexed by customer id, refusing missing customers, duplicate ids and ids whose type would
  lose leading zeros;
* :class:`CovariateDesign` learns, from the fitting data, how each column is coded and which
  process it enters, checks the columns (missing values, constant, collinear, badly scaled), and
  codes any later table or a single profile of the same columns the same way.

Coding
------
A **numeric** column (integers or floats) enters as it is: one design column named like it
(``age``), its coefficient per unit of it. Nothing is rescaled: a column whose scale will slow
or stall the optimiser gets a warning (a :class:`UserWarning`) suggesting to centre and scale
it (age in decades from 40, say), and is used as given, so that the coefficient keeps the unit
the user chose. The limits: a standard deviation between 0.1 and 10, and a mean within 10 of 0
and within 10 standard deviations of 0. A large spread makes the coefficient tiny next to the
other parameters; a mean far from 0 makes the base parameters (those of a customer with 0)
an extrapolation that trades off against the coefficient, so the two are nearly confounded.
Columns of only 0 and 1 are indicators, on their natural scale, and never warned about.

A **categorical** column (text, a pandas ``category``, a polars ``Enum``, booleans, or a numeric
column named in ``categorical``) is dummy coded: its levels, as text, minus one *reference
level*, each become a 0/1 design column named ``channel[B]``. A customer of the reference level
has 0 in every dummy of that column, so the models' population parameters describe the
reference level, and the coefficient of ``channel[B]`` is the difference B makes against it.

The levels, and so the dummy columns, the coefficients and every table that lists them, come in
the column's order: the declared order of a pandas ``category`` (its ``categories``) or a polars
``Enum``; numeric order for numbers named in ``categorical`` (a region code 1, 2, 10; a cohort
year); text order for text and booleans (``"False"`` before ``"True"``). A polars
``Categorical`` (or an Arrow dictionary column) declares no order (polars sorts it as text) and
is read as text. A declared category that no customer of the fitting data has gets no dummy (it
would be a column of zeros, whose coefficient cannot be estimated): it is dropped with a
:class:`UserWarning` naming it, and a later customer with it is refused like any unseen level.

The reference level is the user's choice (``reference_levels``, given as the level appears: 2
or ``"2"`` for a numeric level). By default it is the level with the most customers, ties going
to the first in the column's order, so that the base parameters describe the largest group and
the dummies' coefficients are the best determined. That holds for declared categories too,
whose first category is *not* made the reference as patsy and R's treatment coding make it: a
pandas ``category`` made by ``astype("category")`` or read from a file has an order nobody chose,
and a rare first category would leave every coefficient poorly determined. Give
``reference_levels`` the first category to get that coding. Booleans default to ``"False"``
(the column is ``member[True]``, the effect of being one). Levels are compared as text, so ids
and levels such as ``"007"`` keep their leading zeros; the integer 7, in a ``category`` or a
numeric column named in ``categorical``, is the level ``"7"`` (so is 7.0).

Each covariate enters the purchase process, the dropout process, both with a coefficient each
(listed in both), or both with one coefficient (``shared``). A customer whose design row is all
zeros has the parameters of the model without covariates.

Time-varying covariates (the plan)
----------------------------------
Covariates that change over time, such as the season or the marketing contacts a customer gets
each week, are the next step (CLVTools' extended Pareto/NBD, Bachmann, Meierer & Näf 2021, "The
role of time-varying contextual factors in latent attrition models for customer base
analysis", Marketing Science 40(4), 783-809). In that model the purchase and dropout rates are constant
within periods of one time unit and scaled in each period by ``exp(gamma . z_i(t))``. The plan,
which leaves the static API as it is:

* **Input.** A long table with one row per customer and period: the customer id, the start of
  the period (a date, on a grid of periods of the summary's time unit laid back from the end of
  observation, as :func:`~clvpredict.data.period_bounds` lays them), and the covariate values in
  that period. It covers every period of each customer from their first purchase to the end of
  observation, and for predictions to the end of the horizon (planned contacts, a known seasonal
  pattern), as CLVTools' ``SetDynamicCovariates`` asks for every period up to the end of the
  holdout; a gap is refused naming the customers and periods, like a missing static value.
  Covariates that are the same for every customer (the season) may be given once per period,
  without the customer id. Static covariates stay in the per-customer table.
* **Design.** :class:`CovariateDesign` gains an optional ``time_varying`` part (``None`` for
  every design made today): a frozen object with the period length and grid, the time-varying
  columns coded by the same :class:`CovariateColumn` rules (dummies, reference levels, checks)
  and the process each enters. ``from_frame`` and :meth:`CovariateDesign.matrices` keep their
  signatures and meaning (static columns only); a new method would return the long design,
  ``(customer position, period, z_purchase(t), z_dropout(t))`` ordered by customer and period.
  ``to_dict`` would add a ``"time_varying"`` key, absent from static designs, so model files
  written today keep loading.
* **Data for the fit.** The likelihood then needs more than ``(frequency, recency, T)``: for each
  customer and period, the purchases made and the time at risk in it (CLVTools' "walks"). Those
  come from the transaction log and the period grid, as a per-customer, per-period summary next
  to :func:`~clvpredict.data.rfm_summary`; compression of identical customers then groups equal
  walks instead of equal histories.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from ..exceptions import ClvDataError, ReferenceLevelError, describe_values
from .engines import SPARK_BACKENDS, as_lazy, head_rows, scalars, summary_id_column

__all__ = [
    "CovariateColumn",
    "CovariateDesign",
    "CovariateMatrices",
    "attach_covariates",
]

logger = logging.getLogger("clvpredict.data.covariates")

#: Version of the dictionary written by :meth:`CovariateDesign.to_dict`.
DESIGN_FORMAT = 1

#: Scale limits for a numeric covariate (see :func:`_check_scale`): its standard deviation
#: should be within [MIN_STD, MAX_STD] and its mean within MAX_MEAN of 0 and within MEAN_SPREADS
#: standard deviations of 0.
MIN_STD, MAX_STD, MAX_MEAN, MEAN_SPREADS = 0.1, 10.0, 10.0, 10.0

#: Relative size of a singular value of the column-normalised design below which the design is
#: taken as rank deficient: far above rounding (1e-16), far below any real, estimable spread.
RANK_TOLERANCE = 1e-9

#: How many customer ids a message about an engine's summary shows (as describe_values does).
_SHOWN_IDS = 5

#: The name given to the intercept column in messages about collinear columns.
CONSTANT = "the constant"

#: Told with every refusal for want of a time unit that meets a model with covariates: the unit
#: is usually lost by joining the covariates with pandas, which drops ``attrs``.
LOST_UNIT_HINT = (
    "With covariates, the usual cause is a summary joined to its covariate table by pandas "
    "(summary.join(table), merge or concat drop the attrs where rfm_summary records the time "
    "unit): join them with clvpredict.attach_covariates(summary, table), which keeps the "
    "attrs, or give the table to fit(summary, covariates=table)."
)

Kind = Literal["numeric", "categorical"]
ValueType = Literal["integer", "float", "text", "boolean"]


class CovariateMatrices(NamedTuple):
    """Design matrices of some customers, one row each, float64 arrays of shape (n, k).

    The columns are named by :attr:`CovariateDesign.purchase_names`, ``dropout_names`` and
    ``shared_names``; ``k`` may be 0.
    """

    purchase: np.ndarray
    dropout: np.ndarray
    shared: np.ndarray


@dataclass(frozen=True)
class CovariateColumn:
    """How one covariate column is coded.

    Attributes
    ----------
    name : str
        The column's name in the customers' table.
    kind : {"numeric", "categorical"}
        Used as a number, or dummy coded.
    value_type : {"integer", "float", "text", "boolean"}
        The type of the values in the fitting data (of the levels, for a categorical: a numeric
        column named in ``categorical`` is ``"categorical"`` of ``"integer"`` values). Kept so a
        later table whose levels lost their leading zeros (read as numbers), or whose numbers
        came as text, is told so.
    levels : tuple of str
        A categorical's levels seen in the fitting data, as text, in the column's order (the
        declared order of a pandas ``category`` or polars ``Enum``, numeric order for numbers,
        text order for text): the order of its dummy columns. ``()`` for a numeric column.
    reference : str or None
        A categorical's reference level (no dummy); ``None`` for a numeric column.
    mean, std : float or None
        A numeric column's mean and standard deviation (``ddof=1``) in the fitting data, in the
        column's own unit; ``None`` for a categorical (``None``, unlike NaN, equals itself, so
        designs compare equal after a round trip).
    """

    name: str
    kind: Kind
    value_type: ValueType
    levels: tuple[str, ...] = ()
    reference: str | None = None
    mean: float | None = None
    std: float | None = None

    @property
    def design_names(self) -> tuple[str, ...]:
        """The design columns this covariate makes: ``("age",)`` or ``("channel[B]", ...)``."""
        if self.kind == "numeric":
            return (self.name,)
        return tuple(f"{self.name}[{level}]" for level in self.levels if level != self.reference)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dictionary (text, lists and finite numbers or ``None``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "value_type": self.value_type,
            "levels": list(self.levels),
            "reference": self.reference,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CovariateColumn:
        """The column written by :meth:`to_dict`."""
        try:
            kind, value_type = data["kind"], data["value_type"]
            column = cls(
                name=str(data["name"]),
                kind=kind,
                value_type=value_type,
                levels=tuple(str(level) for level in data["levels"]),
                reference=None if data["reference"] is None else str(data["reference"]),
                mean=None if data["mean"] is None else float(data["mean"]),
                std=None if data["std"] is None else float(data["std"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ClvDataError(f"Not a covariate column written by to_dict: {data!r}.") from exc
        if kind not in ("numeric", "categorical") or value_type not in (
            "integer",
            "float",
            "text",
            "boolean",
        ):
            raise ClvDataError(f"Not a covariate column written by to_dict: {data!r}.")
        if kind == "categorical" and column.reference not in column.levels:
            raise ClvDataError(
                f"Covariate {column.name!r}: reference level {column.reference!r} is not among "
                f"its levels {list(column.levels)}."
            )
        return column

    def codes(self, series: pd.Series, ids: pd.Index) -> np.ndarray:
        """The design columns of ``series`` (values of this covariate for customers ``ids``),
        float64 of shape (n, len(design_names)); refuses missing values and unknown levels."""
        _check_missing(series, self.name, ids)
        if self.kind == "numeric":
            values = _numeric_values(series, self.name)
            return values.reshape(-1, 1)
        text = _as_text(series, self.name)
        codes = pd.Index(self.levels).get_indexer(text)
        unknown = codes < 0
        if unknown.any():
            found = sorted(set(text[unknown]))
            hint = ""
            found_type = _value_type_of(series)
            if self.value_type == "text" and found_type in ("integer", "float"):
                hint = (
                    f" The fitting data held text levels and these are {found_type}s: if the "
                    "column was read as numbers, leading zeros are lost; read it as text "
                    "(e.g. pd.read_csv(..., dtype={" + repr(self.name) + ": str}))."
                )
            elif self.value_type in ("integer", "float") and found_type == "text":
                hint = (
                    f" The fitting data held {self.value_type} levels and these are text: the "
                    "level 7 is the text '7', not '07' or '7.0'; give the numbers as numbers."
                )
            raise ClvDataError(
                f"Covariate {self.name!r} has level(s) {describe_values(found)} the model was "
                f"not fitted with (known levels: {list(self.levels)}). A model has no "
                "coefficient for a level it has not seen: map them to a known level, or fit "
                f"again with data that has them.{hint}"
            )
        dummies = [level for level in self.levels if level != self.reference]
        positions = np.array([self.levels.index(level) for level in dummies], dtype=np.int64)
        return (codes[:, None] == positions[None, :]).astype(np.float64)


@dataclass(frozen=True)
class CovariateDesign:
    """Which covariates enter which process, and how each is coded, learned from fitting data.

    Make one with :meth:`from_frame`; it is frozen (hashable, safe to share) and written to a
    model file by :meth:`to_dict`. :meth:`matrices` codes the same columns of any later table
    of customers (new customers, a scoring run) and :meth:`profile` a single made-up customer.

    Attributes
    ----------
    covariates : tuple of CovariateColumn
        Every column used, each once, in the order first named (purchase, dropout, shared).
    purchase, dropout, shared : tuple of str
        The columns entering the purchase process, the dropout process, and both with one
        coefficient. A column may be in ``purchase`` and ``dropout`` (one coefficient in each),
        never in ``shared`` and another.

    Examples
    --------
    >>> import pandas as pd
    >>> customers = pd.DataFrame(
    ...     {"channel": ["A", "B", "B"], "age": [2.5, 3.1, 4.0]}, index=["c1", "c2", "c3"]
    ... )
    >>> design = CovariateDesign.from_frame(customers, purchase=["channel", "age"])
    >>> design.purchase_names  # B, the most frequent channel, is the reference
    ('channel[A]', 'age')
    >>> design.profile({"channel": "A", "age": 3.0}).purchase
    array([[1., 3.]])
    """

    covariates: tuple[CovariateColumn, ...] = ()
    purchase: tuple[str, ...] = ()
    dropout: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()
    _by_name: dict[str, CovariateColumn] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # A lookup by name, filled once; the dataclass is frozen, hence object.__setattr__.
        object.__setattr__(self, "_by_name", {c.name: c for c in self.covariates})
        missing = [
            n for n in (*self.purchase, *self.dropout, *self.shared) if n not in self._by_name
        ]
        if missing:
            raise ClvDataError(f"Covariate(s) {missing} are used but not described.")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        purchase: Sequence[str] | str = (),
        dropout: Sequence[str] | str = (),
        shared: Sequence[str] | str = (),
        categorical: Sequence[str] | str = (),
        reference_levels: Mapping[str, Any] | None = None,
        weights: str | None = None,
    ) -> CovariateDesign:
        """Learn the coding of the named columns from one row per customer, and check them.

        Parameters
        ----------
        frame : DataFrame
            One row per customer, indexed by customer id (a summary from
            :func:`attach_covariates`, or any table with the covariate columns). Other eager
            frames (polars, pyarrow) are read through narwhals; messages then name rows by
            position.
        purchase, dropout : sequence of str
            Columns entering the purchase process and the dropout process (settings
            ``purchase_covariates`` and ``dropout_covariates``). A column in both gets one
            coefficient in each.
        shared : sequence of str
            Columns entering both processes with one coefficient (``shared_covariates``).
        categorical : sequence of str
            Covariates to dummy code even though they hold numbers (``categorical_covariates``):
            a region code 1, 2, 3 or a cohort year. Their levels keep their numeric order and
            are written as text without a trailing ``.0`` (the level ``"2"``). Text, category
            and boolean columns are categorical anyway; naming them here changes nothing.
        reference_levels : mapping of str to level, optional
            The reference level of a categorical column, as it appears in the data or as text
            (``{"channel": "A"}``, ``{"region": 2}`` or ``{"region": "2"}``). By default it is
            the level with the most customers, ties going to the first in the column's order
            (declared, numeric or text: see the module's "Coding"), so that the base parameters
            describe the largest group and the dummies' coefficients are the best determined;
            booleans default to ``"False"``. A declared category's first level is not the
            default: name it here for the coding of patsy or R.
        weights : str, optional
            A column of ``frame`` giving how many customers each row stands for, when the rows
            are distinct combinations rather than customers (the ``weight`` column of a summary
            grouped by its engine): the default reference levels and the means and standard
            deviations (for the scale warning) then count customers, not rows. The collinearity
            and constancy checks need only the distinct rows.

        Returns
        -------
        CovariateDesign

        Raises
        ------
        ClvDataError
            Naming the column(s): a column not in the frame, named twice in one list or both in
            ``shared`` and another list; values that are neither numbers nor text nor booleans
            (dates: convert them); a missing value (naming the customers); a constant numeric
            column or a categorical with one level; a reference level not among the levels, or
            a declared category no customer has; a reference level or ``categorical`` naming a
            column that is not a covariate, or a reference level for a numeric column not named
            in ``categorical``; columns that are collinear with each other or the constant
            within one process.

        Warns
        -----
        UserWarning
            A numeric column whose scale will hurt the optimiser; categories declared by the
            column's type that no customer has, which get no dummy (see the module's "Coding").
        """
        frame = _as_pandas(frame, "covariates")
        lists = {
            "purchase": _names(purchase, "purchase"),
            "dropout": _names(dropout, "dropout"),
            "shared": _names(shared, "shared"),
        }
        for other in ("purchase", "dropout"):
            both = [n for n in lists[other] if n in lists["shared"]]
            if both:
                raise ClvDataError(
                    f"Covariate(s) {both} are both in shared and in {other}: a shared covariate "
                    f"already enters {other} (with the one coefficient it shares). Name each "
                    "in shared, or in purchase and/or dropout (one coefficient each)."
                )
        used = list(dict.fromkeys([*lists["purchase"], *lists["dropout"], *lists["shared"]]))
        absent = [n for n in used if n not in frame.columns]
        if absent:
            raise ClvDataError(
                f"Covariate column(s) {absent} are not in the data; it has columns "
                f"{[str(c) for c in frame.columns]}."
            )
        references = dict(reference_levels or {})
        as_categories = _names(categorical, "categorical")
        for setting, names in (("reference_levels", references), ("categorical", as_categories)):
            stray = [n for n in names if n not in used]
            if stray:
                raise ClvDataError(
                    f"{setting} names column(s) {stray} that are not covariates of this "
                    f"model (covariates: {used})."
                )
        if used and len(frame) == 0:
            raise ClvDataError("The covariates table has no customers.")
        counts = _row_weights(frame, weights, used)
        columns = tuple(
            _learn_column(
                frame[name],
                name,
                frame.index,
                references.get(name, _DEFAULT),
                counts,
                name in as_categories,
            )
            for name in used
        )
        design = cls(
            covariates=columns,
            purchase=lists["purchase"],
            dropout=lists["dropout"],
            shared=lists["shared"],
        )
        matrices = design.matrices(frame)
        design._check_rank(matrices)
        for column in columns:
            if column.kind == "numeric":
                _check_scale(column, frame[column.name])
        return design

    # -- names --------------------------------------------------------------------------------

    def column(self, name: str) -> CovariateColumn:
        """The coding of covariate ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ClvDataError(
                f"{name!r} is not a covariate of this model (covariates: {self.columns})."
            ) from None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every covariate column used, each once."""
        return tuple(c.name for c in self.covariates)

    def _design_names(self, names: Iterable[str]) -> tuple[str, ...]:
        return tuple(d for n in names for d in self._by_name[n].design_names)

    @property
    def purchase_names(self) -> tuple[str, ...]:
        """The purchase design's columns (``age``, ``channel[B]``), in the order given."""
        return self._design_names(self.purchase)

    @property
    def dropout_names(self) -> tuple[str, ...]:
        """The dropout design's columns."""
        return self._design_names(self.dropout)

    @property
    def shared_names(self) -> tuple[str, ...]:
        """The shared design's columns (one coefficient in both processes)."""
        return self._design_names(self.shared)

    @property
    def is_empty(self) -> bool:
        """Whether the design has no covariates (the model without them)."""
        return not self.covariates

    # -- coding ---------------------------------------------------------------------------------

    def matrices(self, frame: Any) -> CovariateMatrices:
        """The design matrices of the customers of ``frame``, coded as in the fitting data.

        Parameters
        ----------
        frame : DataFrame
            One row per customer with (at least) the covariate columns, indexed by customer id;
            other eager frames are read through narwhals.

        Returns
        -------
        CovariateMatrices
            ``(purchase, dropout, shared)``, float64 arrays of shape (n, k), the rows in the
            frame's order, the columns named by ``purchase_names``, ``dropout_names`` and
            ``shared_names``.

        Raises
        ------
        ClvDataError
            A covariate column missing from the frame; a missing value (naming the customers);
            a categorical level not seen in the fitting data (naming it, the column and the
            known levels); text where a number is expected.
        """
        frame = _as_pandas(frame, "covariates")
        absent = [n for n in self.columns if n not in frame.columns]
        if absent:
            raise ClvDataError(
                f"Covariate column(s) {absent} of the model are not in the data; it has columns "
                f"{[str(c) for c in frame.columns]}."
            )
        coded = {c.name: c.codes(frame[c.name], frame.index) for c in self.covariates}
        n = len(frame)

        def stack(names: tuple[str, ...]) -> np.ndarray:
            if not names:
                return np.zeros((n, 0), dtype=np.float64)
            return np.hstack([coded[name] for name in names])

        return CovariateMatrices(stack(self.purchase), stack(self.dropout), stack(self.shared))

    def profile(self, values: Mapping[str, Any]) -> CovariateMatrices:
        """The design matrices (one row each) of one covariate profile, such as a new customer.

        Parameters
        ----------
        values : mapping of str to value
            One value for every covariate of the design, e.g. ``{"channel": "B", "age": 4.0}``:
            what a new customer from channel B aged 40 (in decades) is worth.

        Returns
        -------
        CovariateMatrices
            Arrays of shape (1, k).
        """
        missing = [n for n in self.columns if n not in values]
        extra = [n for n in values if n not in self.columns]
        if missing or extra:
            raise ClvDataError(
                "A covariate profile gives one value for every covariate of the model "
                f"{list(self.columns)}; "
                + "; ".join(
                    part
                    for part in (
                        f"missing: {missing}" if missing else "",
                        f"not covariates of the model: {extra}" if extra else "",
                    )
                    if part
                )
                + "."
            )
        index = pd.Index(["profile"], name="profile")
        row = {}
        for name in self.columns:
            value = values[name]
            if isinstance(value, list | tuple | np.ndarray | pd.Series):
                raise ClvDataError(
                    f"Covariate profile: {name!r} must be one value, not {type(value).__name__}."
                    " For a table of profiles, one per row: clvpredict.new_customer_clv(model, "
                    "spend_model, covariates=table), or model.profile_models(table)."
                )
            # A one-row Series of the value's own type: 7 stays an integer, "007" text.
            row[name] = pd.Series([value], index=index, dtype=object).infer_objects()
        frame = pd.DataFrame(row, index=index)
        return self.matrices(frame)

    # -- checks ---------------------------------------------------------------------------------

    def _check_rank(self, matrices: CovariateMatrices) -> None:
        """Refuse a process whose design, with the constant, is not of full column rank."""
        for process, own, names in (
            ("purchase", matrices.purchase, self.purchase_names),
            ("dropout", matrices.dropout, self.dropout_names),
        ):
            design = np.hstack([own, matrices.shared])
            labels = [*names, *self.shared_names]
            if design.shape[1] == 0:
                continue
            involved = _collinear_columns(design)
            if involved is None:
                continue
            n, k = design.shape
            if n <= k:
                raise ClvDataError(
                    f"The {process} process has {k} covariate columns {labels} and the constant, "
                    f"but only {n} rows of data: too few to estimate them. Use fewer covariates."
                )
            named = [CONSTANT if j == 0 else labels[j - 1] for j in involved]
            raise ClvDataError(
                f"Covariates of the {process} process are collinear: {named} are linearly "
                "dependent (one is a combination of the others), so their coefficients cannot "
                "be told apart. Drop one of them, or merge the columns they come from."
            )

    # -- model files ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The design as a JSON-safe dictionary (for model files); :meth:`from_dict` reads it."""
        return {
            "format": DESIGN_FORMAT,
            "covariates": [c.to_dict() for c in self.covariates],
            "purchase": list(self.purchase),
            "dropout": list(self.dropout),
            "shared": list(self.shared),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CovariateDesign:
        """The design written by :meth:`to_dict`."""
        if not isinstance(data, Mapping) or data.get("format") != DESIGN_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ClvDataError(
                f"Not a covariate design of format {DESIGN_FORMAT} (found {found!r}); it may "
                "come from a newer clvpredict."
            )
        try:
            return cls(
                covariates=tuple(CovariateColumn.from_dict(c) for c in data["covariates"]),
                purchase=tuple(str(n) for n in data["purchase"]),
                dropout=tuple(str(n) for n in data["dropout"]),
                shared=tuple(str(n) for n in data["shared"]),
            )
        except (KeyError, TypeError) as exc:
            raise ClvDataError(f"Not a covariate design written by to_dict: {exc}.") from exc


# -- joining ------------------------------------------------------------------------------------


def attach_covariates(
    summary: pd.DataFrame,
    covariates: Any,
    *,
    columns: Sequence[str] | None = None,
    id_col: str | None = None,
) -> pd.DataFrame:
    """The summary with each customer's covariates as more columns.

    Parameters
    ----------
    summary : pandas DataFrame
        One row per customer, indexed by customer id (from :func:`~clvpredict.rfm_summary`
        with ``output="pandas"``).
    covariates : DataFrame
        One row per customer: a pandas DataFrame with the customer id as its index or as a
        column named like the summary's index (or ``id_col``), or a polars (or pyarrow) frame
        with that column. Customers of the table that are not in the summary are ignored
        (and counted in a debug log): a customer table often holds customers without
        purchases in the period.
    columns : sequence of str, optional
        The covariate columns to attach; by default every column except the id.
    id_col : str, optional
        The name of the customer id column in ``covariates``, when it differs from the name of
        the summary's index.

    Returns
    -------
    pandas DataFrame
        The summary's rows in its order, its columns, then the covariate columns, and its
        ``attrs`` (time unit, end of observation) unchanged.

    Raises
    ------
    ClvDataError
        Naming them: customers of the summary not in the table; ids that appear more than once
        in the table; ids that are text on one side and numbers on the other (leading zeros
        such as ``"007"`` would be lost: read the ids as text on both sides); covariate columns
        that the summary already has, or that are not in the table.
    """
    if not isinstance(summary, pd.DataFrame):
        raise ClvDataError(
            "attach_covariates joins onto a pandas summary indexed by customer id (rfm_summary "
            f"with output='pandas'); got {type(summary).__name__}. With a summary in another "
            "engine, join the covariates there, on the customer id column."
        )
    key = id_col if id_col is not None else summary.index.name
    table = _as_pandas(covariates, "covariates")
    ids = _table_ids(table, key)
    table = table.drop(columns=[key]) if key is not None and key in table.columns else table
    if columns is None:
        columns = [str(c) for c in table.columns]
    columns = _names(columns, "columns")
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise ClvDataError(
            f"Covariate column(s) {absent} are not in the covariates table; it has columns "
            f"{[str(c) for c in table.columns]}."
        )
    clash = [c for c in columns if c in summary.columns]
    if clash:
        raise clashing_columns_error(clash)
    ids = _matching_ids(ids, summary.index, key)
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise ClvDataError(
            f"The covariates table has {len(duplicated.unique())} customer id(s) on more than "
            f"one row: {describe_values(duplicated.unique())}. Give one row per customer."
        )
    table = table[list(columns)].set_axis(ids, axis=0)
    missing = summary.index[~summary.index.isin(ids)]
    if len(missing):
        raise missing_customers_error(
            len(missing),
            describe_values(missing),
            _zeros_hint(missing, ids) + _unmatched_hint(missing, summary.index, ids),
        )
    extra = int((~ids.isin(summary.index)).sum())
    if extra:
        logger.debug(
            "attach_covariates: %d customer(s) of the table are not in the summary.", extra
        )
    out = pd.concat([summary, table.reindex(summary.index)], axis=1)
    out.index.name = summary.index.name
    out.attrs = dict(summary.attrs)
    return out


# -- helpers --------------------------------------------------------------------------------------


def clashing_columns_error(clash: Sequence[str]) -> ClvDataError:
    """The refusal of covariate columns that the summary already has (every engine's join)."""
    return ClvDataError(
        f"Covariate column(s) {list(clash)} are already columns of the summary: rename them in "
        "the covariates table."
    )


def missing_customers_error(n_missing: int, listed: str, hints: str = "") -> ClvDataError:
    """The refusal of ``n_missing`` customers of the summary without a row in the covariates
    table, ``listed`` the first of them as :func:`describe_values` writes them, and ``hints``
    the engine's (sentences, each with a leading space) on why they may not match."""
    return ClvDataError(
        f"{n_missing} customer(s) of the summary are not in the covariates table: {listed}. "
        "Every customer needs covariates: add them, or leave those customers out of the "
        f"summary.{hints}"
    )


#: Marks "no reference level given" (``None`` could be a level's value).
_DEFAULT = object()


def _names(names: Sequence[str] | str, argument: str) -> tuple[str, ...]:
    """A list of column names as a tuple (one name alone allowed); repeats refused."""
    if isinstance(names, str):
        names = [names]
    names = tuple(names)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ClvDataError(f"{argument}: column names are text; got {describe_values(bad)}.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ClvDataError(f"{argument} names column(s) {repeated} more than once.")
    return names


def _as_pandas(frame: Any, what: str) -> pd.DataFrame:
    """A pandas view of an eager frame of any kind narwhals reads (polars, pyarrow)."""
    if isinstance(frame, pd.DataFrame):
        return frame
    try:
        native = nw.from_native(frame)
    except TypeError:
        raise ClvDataError(
            f"The {what} must be a DataFrame (pandas, polars, pyarrow); got {type(frame).__name__}."
        ) from None
    if not isinstance(native, nw.DataFrame | nw.LazyFrame):
        raise ClvDataError(f"The {what} must be a DataFrame; got {type(frame).__name__}.")
    if str(native.implementation) in SPARK_BACKENDS:
        raise ClvDataError(
            f"The {what} is a Spark DataFrame: one row per customer would be collected to the "
            "driver. Join it to the summary in Spark, on the customer id column."
        )
    if isinstance(native, nw.LazyFrame):
        native = native.collect()
    # A polars Categorical (an Arrow dictionary) declares no order of its levels (polars sorts
    # them as text; pandas would get them in the order they were first seen): read as text.
    # An Enum declares its order and arrives as a pandas category in it.
    undeclared = [n for n, dtype in native.schema.items() if dtype == nw.Categorical]
    if undeclared:
        native = native.with_columns(nw.col(*undeclared).cast(nw.String))
    return native.to_pandas()


def _table_ids(table: pd.DataFrame, key: str | None) -> pd.Index:
    """The customer ids of a covariates table: its ``key`` column, else its index."""
    if key is not None and key in table.columns:
        return pd.Index(table[key], name=key)
    if isinstance(table.index, pd.RangeIndex) and table.index.name is None:
        where = f"column named {key!r}" if key is not None else "id column named by id_col="
        raise ClvDataError(
            f"The covariates table has no {where} and its index is row numbers: set the "
            "customer id as its index, or pass id_col= naming its id column."
        )
    return table.index


def _id_kind(index: pd.Index) -> str:
    if pd.api.types.is_bool_dtype(index.dtype):
        return "other"
    if pd.api.types.is_numeric_dtype(index.dtype):
        return "number"
    if pd.api.types.is_string_dtype(index.dtype):
        return "text"
    return "other"


#: An id kind of :func:`_id_kind` as a sentence says it of several ids.
_PLURAL = {"number": "numbers", "text": "text", "other": "other values"}


def _matching_ids(ids: pd.Index, summary_ids: pd.Index, key: str | None) -> pd.Index:
    """The table's ids, checked against the summary's: text against numbers is refused."""
    mine, theirs = _id_kind(ids), _id_kind(summary_ids)
    if {mine, theirs} == {"text", "number"}:
        raise ClvDataError(
            f"Customer ids are {_PLURAL[theirs]} in the summary "
            f"({describe_values(summary_ids[:3])}) and {_PLURAL[mine]} in the covariates table "
            f"({describe_values(ids[:3])}): matching them would "
            'lose leading zeros ("007" is not 7). Read the ids as text on both sides, e.g. '
            f"pd.read_csv(..., dtype={{{key or 'customer_id'!r}: str}}), and summarise again."
        )
    # Numbers match numbers by value (7.0 is customer 7), text matches text.
    return ids


def _zeros_hint(missing: pd.Index, ids: pd.Index) -> str:
    """A hint when text ids missing from the table are there with other leading zeros
    ("007" against "7": a file once opened in a spreadsheet)."""
    if _id_kind(missing) != "text" or _id_kind(ids) != "text":
        return ""
    stripped = set(pd.Index(ids).astype(str).str.lstrip("0"))
    found = [i for i in missing[:1000] if str(i).lstrip("0") in stripped]
    if not found:
        return ""
    return (
        f" Some are in the table with other leading zeros ({describe_values(found, 3)}): the "
        "ids must be written the same way on both sides."
    )


def _unmatched_hint(missing: pd.Index, summary_ids: pd.Index, ids: pd.Index) -> str:
    """A hint when ids differ only by spaces around them, or when no customer of the summary
    is in the table at all (a few ids of each side, to compare by eye)."""
    hint = ""
    if _id_kind(missing) == "text" and _id_kind(ids) == "text":
        stripped = {str(i).strip(): i for i in ids}
        pairs = [
            (i, stripped[str(i).strip()]) for i in missing[:1000] if str(i).strip() in stripped
        ]
        if pairs:
            shown = ", ".join(f"{mine!r} is {theirs!r}" for mine, theirs in pairs[:3])
            hint = (
                f" Some are in the table with other spaces around them ({shown} there): strip "
                "the ids on both sides, e.g. table[id_col].str.strip()."
            )
    if len(missing) == len(summary_ids) and len(ids):
        hint += (
            " No customer of the summary is in the table: the table's ids look like "
            f"{describe_values(ids[:3])} ({ids.dtype}), the summary's like "
            f"{describe_values(summary_ids[:3])} ({summary_ids.dtype}). Check that both are "
            "written the same way: spaces, case, prefixes, and the same type (read ids as text "
            "on both sides)."
        )
    return hint


def _value_type_of(series: pd.Series) -> str | None:
    """``"boolean"``, ``"integer"``, ``"float"``, ``"text"``, or ``None`` for anything else."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _value_type_of(pd.Series(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype):
        if pd.api.types.is_object_dtype(dtype):
            values = series.dropna()
            # An object column is text only if it holds text; booleans are booleans.
            if values.map(lambda v: isinstance(v, bool | np.bool_)).all() and len(values):
                return "boolean"
            if not values.map(lambda v: isinstance(v, str)).all():
                return None
        return "text"
    return None


def _describe_dtype(series: pd.Series) -> str:
    if pd.api.types.is_object_dtype(series.dtype):
        kinds = sorted({type(v).__name__ for v in series.dropna()})
        return f"object values of type(s) {kinds}"
    return f"dtype {series.dtype}"


def _row_weights(frame: pd.DataFrame, weights: str | None, used: list[str]) -> np.ndarray:
    """How many customers each row of ``frame`` stands for: 1, or the ``weights`` column."""
    if weights is None:
        return np.ones(len(frame))
    if weights not in frame.columns or weights in used:
        raise ClvDataError(
            f"weights={weights!r} must be a column of the data that is not a covariate; the "
            f"data has columns {[str(c) for c in frame.columns]}."
        )
    counts = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(counts) & (counts > 0))
    if bad.any():
        raise ClvDataError(
            f"weights={weights!r} must be positive numbers; rows "
            f"{describe_values(frame.index[bad])} have {describe_values(frame[weights][bad])}."
        )
    return counts


def _learn_column(
    series: pd.Series,
    name: str,
    ids: pd.Index,
    reference: Any,
    counts: np.ndarray,
    categorical: bool = False,
) -> CovariateColumn:
    """The coding of one column, checked: a known type, no missing value, not constant.
    ``counts`` are the customers each row stands for (ones for one row per customer);
    ``categorical`` makes a numeric column categorical."""
    value_type = _value_type_of(series)
    if value_type is None:
        raise ClvDataError(
            f"Covariate {name!r} holds {_describe_dtype(series)}, neither numbers nor text nor "
            "booleans. Convert it: dates to a number (tenure in years) or to text (the month "
            "of acquisition, as '2024-03'), mixed values to one type (astype(str) or "
            "astype(float))."
        )
    _check_missing(series, name, ids)
    is_categorical = (
        categorical
        or value_type in ("text", "boolean")
        or isinstance(series.dtype, pd.CategoricalDtype)
    )
    if not is_categorical:
        if reference is not _DEFAULT:
            raise ReferenceLevelError(
                f"reference_levels gives {name!r} a reference level, but it is a numeric "
                "covariate (used as it is). To dummy code it, name it in categorical= (the "
                "models' setting categorical_covariates), or make it text or a pandas category.",
                name,
            )
        values = _numeric_values(series, name)
        if np.all(values == values[0]):
            raise ClvDataError(
                f"Covariate {name!r} is constant ({describe_values(values[:1])} for every "
                "customer): it cannot be told apart from the base parameters. Drop it."
            )
        # Moments over customers (rows weighted by the customers they stand for), ddof=1.
        total = counts.sum()
        mean = np.sum(counts * values) / total
        return CovariateColumn(
            name=name,
            kind="numeric",
            value_type=value_type,  # type: ignore[arg-type]
            mean=float(mean),
            std=float(np.sqrt(np.sum(counts * (values - mean) ** 2) / (total - 1.0))),
        )
    text = _as_text(series, name)
    per_level = pd.Series(counts).groupby(text).sum()
    order = _level_order(series, per_level.index)
    levels = tuple(level for level in order if level in per_level.index)
    absent = [level for level in order if level not in per_level.index]
    if len(levels) == 1:
        raise ClvDataError(
            f"Covariate {name!r} has one level ({levels[0]!r}) for every customer: it cannot "
            "be told apart from the base parameters. Drop it."
        )
    if reference is _DEFAULT:
        if value_type == "boolean":
            reference = "False"
        else:
            # The most frequent level; among equally frequent ones the first in the column's
            # order (declared, numeric or text).
            top = per_level.max()
            reference = next(level for level in levels if per_level[level] == top)
    else:
        reference = _level_text(reference)
        if reference in absent:
            raise ReferenceLevelError(
                f"reference_levels[{name!r}] = {reference!r} is a declared category of {name!r} "
                "that no customer of the fitting data has: the base parameters would describe "
                f"nobody. Choose one of the levels the customers have: {list(levels)}.",
                name,
            )
        if reference not in levels:
            raise ReferenceLevelError(
                f"reference_levels[{name!r}] = {reference!r} is not a level of {name!r}; its "
                f"levels are {list(levels)}.",
                name,
            )
    if absent:
        warnings.warn(
            f"Covariate {name!r} declares level(s) {describe_values(absent)} that no customer of "
            "the fitting data has: they get no dummy column (it would be all zeros, and its "
            f"coefficient could not be estimated), and a customer with them is refused later. "
            f"The model's levels are {list(levels)}. Leave them out of the declared categories "
            "(pandas: .cat.remove_unused_categories()) to say so.",
            UserWarning,
            stacklevel=4,
        )
    return CovariateColumn(
        name=name,
        kind="categorical",
        value_type=value_type,  # type: ignore[arg-type]
        levels=levels,
        reference=reference,
    )


def _level_order(series: pd.Series, seen: pd.Index) -> list[str]:
    """Every level of a categorical column as text, in the column's order: the declared
    categories of a pandas ``category`` (a polars ``Enum`` arrives as one), present or not;
    the values' numeric order for numbers; text order for the ``seen`` levels otherwise."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return list(dict.fromkeys(_level_text(c) for c in dtype.categories))
    if not pd.api.types.is_bool_dtype(dtype) and pd.api.types.is_numeric_dtype(dtype):
        # 2 before 10, as numbers; 2 and 2.0 are the one level "2".
        kind = np.int64 if pd.api.types.is_integer_dtype(dtype) else np.float64
        return list(dict.fromkeys(_level_text(v) for v in np.unique(series.to_numpy(kind))))
    return sorted(seen)


def _check_missing(series: pd.Series, name: str, ids: pd.Index) -> None:
    missing = series.isna().to_numpy()
    if missing.any():
        raise _missing_error(name, int(missing.sum()), describe_values(ids[missing]))


def _missing_error(name: str, count: int, shown: str) -> ClvDataError:
    return ClvDataError(
        f"Covariate {name!r} is missing for {count} customer(s): {shown}. Fill it in (a level "
        "such as 'unknown' for a categorical), or leave those customers out."
    )


def _infinite_error(name: str, shown: str) -> ClvDataError:
    return ClvDataError(f"Covariate {name!r} has infinite values for customer(s) {shown}.")


def _numeric_values(series: pd.Series, name: str) -> np.ndarray:
    """The values of a numeric covariate as float64, finite."""
    if (
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(series.dtype)
        or not pd.api.types.is_numeric_dtype(series.dtype)
    ):
        raise ClvDataError(
            f"Covariate {name!r} is numeric in the model but the data hold "
            f"{_describe_dtype(series)} (e.g. "
            f"{describe_values(series.drop_duplicates().iloc[:3])}). Convert it to numbers."
        )
    values = series.to_numpy(dtype=np.float64)
    infinite = ~np.isfinite(values)
    if infinite.any():
        raise _infinite_error(name, describe_values(series.index[infinite]))
    return values


def check_engine_values(
    data: Any, rows: pd.DataFrame, columns: Sequence[str], weights: str | None = None
) -> None:
    """Refuse missing and infinite covariate values of a summary held by an engine (polars,
    pyarrow, DuckDB, Spark), naming the customers by their id: the summary's first column that
    is not a summary column, a covariate column or the ``weights`` column.

    A model is fitted on such a summary's distinct rows (``rows``, from
    :func:`~clvpredict.data.engines.histories`), which carry no customer ids; a bad value
    found among them is looked up in the engine, only then, for the number of customers who
    have it and the first ids in order (a polars inner join would have dropped those customers
    silently; a left join keeps them for this message).
    """
    schema = as_lazy(data).collect_schema()
    id_col = summary_id_column(schema.names(), [*columns, *([weights] if weights else [])])
    for name in columns:
        values = rows[name]
        column = nw.col(name)
        if values.isna().any():
            condition = column.is_null()
            if schema[name].is_float():
                condition = condition | column.is_nan()
            count, shown = _engine_customers(data, condition, id_col)
            raise _missing_error(name, count, shown)
        if pd.api.types.is_float_dtype(values.dtype) and np.isinf(values.to_numpy()).any():
            condition = column.abs() == float("inf")
            raise _infinite_error(name, _engine_customers(data, condition, id_col)[1])


def _engine_customers(data: Any, condition: Any, id_col: str | None) -> tuple[int, str]:
    """How many customers of an engine's summary meet ``condition``, and the first few ids
    (in id order) as a message shows them."""
    lazy = as_lazy(data).filter(condition)
    count = int(scalars(lazy, nw.len())[0])
    if id_col is None:
        return count, "(the summary has no customer id column to name them by)"
    ids = [row[0] for row in head_rows(lazy.select(id_col).sort(id_col), _SHOWN_IDS)]
    more = count - len(ids)
    return count, describe_values(ids) + (f", ... ({more} more)" if more > 0 else "")


def _level_text(value: Any) -> str:
    """A level as text: booleans ``"True"``/``"False"``, whole numbers without ``.0``."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_text(series: pd.Series, name: str) -> np.ndarray:
    """The values of a categorical covariate as an object array of text (no missing values)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # One conversion per category, not per customer.
        names = np.array([_level_text(c) for c in dtype.categories], dtype=object)
        return names[series.cat.codes.to_numpy()]
    if pd.api.types.is_bool_dtype(dtype):
        return np.where(series.to_numpy(dtype=bool), "True", "False").astype(object)
    if pd.api.types.is_integer_dtype(dtype):
        return series.to_numpy(dtype=np.int64).astype(str).astype(object)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return series.to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return np.array([_level_text(v) for v in series], dtype=object)
    raise ClvDataError(
        f"Covariate {name!r} is categorical in the model but the data hold "
        f"{_describe_dtype(series)}: give its levels as text."
    )


def _collinear_columns(design: np.ndarray) -> list[int] | None:
    """Positions (0 = the constant, j = design column j - 1) of the columns involved in a linear
    dependence of ``[1, design]``, or ``None`` when it has full column rank."""
    n = design.shape[0]
    full = np.hstack([np.ones((n, 1)), design])
    if n < full.shape[1]:
        # More columns than customers: rank deficient whatever the values.
        return list(range(full.shape[1]))
    # Columns of unit length, so the tolerance does not depend on the covariates' units (no
    # column is zero: constants and one-level categoricals are refused before).
    norms = np.linalg.norm(full, axis=0)
    scaled = full / norms
    # R of a QR keeps the columns' geometry in k x k, whatever the number of customers.
    r = np.linalg.qr(scaled, mode="r")
    _, singular, vt = np.linalg.svd(r)
    null = vt[singular < RANK_TOLERANCE * singular[0]]
    if not len(null):
        return None
    # Columns with a visible weight in some null vector (rows of vt have unit length).
    return sorted(int(j) for j in np.flatnonzero(np.abs(null).max(axis=0) > 1e-6))


def _check_scale(column: CovariateColumn, series: pd.Series) -> None:
    """Warn when a numeric covariate's scale will slow or stall the optimiser."""
    values = series.to_numpy(dtype=np.float64)
    # A 0/1 indicator is on its natural scale, however rare its ones.
    if np.isin(values, (0.0, 1.0)).all():
        return
    mean, std = float(column.mean), float(column.std)  # type: ignore[arg-type]
    if not MIN_STD <= std <= MAX_STD or abs(mean) > min(MAX_MEAN, MEAN_SPREADS * std):
        warnings.warn(
            f"Covariate {column.name!r} has mean {mean:.4g} and standard deviation {std:.4g}: "
            "on this scale the optimiser works badly (aim for a standard deviation between "
            f"{MIN_STD:g} and {MAX_STD:g} and a mean within {MAX_MEAN:g} of 0 and within "
            f"{MEAN_SPREADS:g} standard deviations of 0). Centre and scale it before fitting, "
            "e.g. (age - 40) / 10 for age in decades from 40; clvpredict does not rescale "
            "covariates for you.",
            UserWarning,
            stacklevel=3,
        )
