"""One summary object for a fitted model, behind its ``repr``, its notebook display and the report.

Like statsmodels' ``Summary`` (``as_text``/``as_html``): the model says once what it has to say
(its name and source, fit statistics, the parameter table) and each place that shows it picks a
format, so the console, Jupyter and the HTML report never disagree.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ModelSummary"]

#: Headers of the parameter table's four columns, in both forms.
_LABELS = ("estimate", "std err", "95% lower", "95% upper")
#: Column widths of the text table: parameter name, estimate, std err, lower, upper.
_WIDTHS = (10, 12, 12, 14, 14)


@dataclass(frozen=True)
class ModelSummary:
    """What a fitted model says about itself.

    Attributes
    ----------
    class_name : str
        E.g. ``"BetaGeoModel"``.
    title : str
        Label and source, e.g. ``"BG/NBD (Fader, Hardie & Lee 2005)"``.
    header : tuple of (str, str)
        Fit facts in order: customers, time unit, log-likelihood, AIC, BIC, convergence...
    parameters : DataFrame
        ``model.summary()``: estimate, standard error and interval bounds per parameter.
    """

    class_name: str
    title: str
    header: tuple[tuple[str, str], ...]
    parameters: pd.DataFrame

    def as_text(self, width: int = 64) -> str:
        """The console form (``repr(model)``)."""
        name_w, *number_w = _WIDTHS
        # Covariate coefficients have long names ("purchase.channel[partner]"): the name
        # column widens to the longest, and the rules with it.
        name_w = max(name_w, *(len(str(n)) + 2 for n in self.parameters.index))
        width = max(width, name_w + sum(number_w))
        lines = [f"<{self.class_name}: {self.title}>", "=" * width]
        lines += [f"{k:<16}{v}" for k, v in self.header]
        lines.append("-" * width)
        labels = _LABELS
        lines.append(
            f"{'':<{name_w}}" + "".join(f"{s:>{w}}" for s, w in zip(labels, number_w, strict=True))
        )
        for name, row in self.parameters.iterrows():
            cells = zip(row.to_numpy(), number_w, strict=True)
            lines.append(f"{name!s:<{name_w}}" + "".join(f"{_number(v):>{w}}" for v, w in cells))
        lines.append("=" * width)
        return "\n".join(lines)

    def as_html(self) -> str:
        """The notebook and report form (``model._repr_html_()``)."""
        head = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.header
        )
        # The same headers as the text form: the DataFrame keeps its snake_case names.
        shown = self.parameters.set_axis(list(_LABELS), axis=1)
        table = shown.to_html(float_format=lambda v: f"{v:.4f}", border=0)
        return (
            f"<div><strong>{html.escape(self.class_name)}</strong>: "
            f"{html.escape(self.title)}<table>{head}</table>{table}</div>"
        )

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()


def _number(value: float) -> str:
    """Four decimals for ordinary magnitudes, scientific notation for extreme ones."""
    if np.isfinite(value) and value != 0 and not 1e-3 <= abs(value) < 1e6:
        return f"{value:.4e}"
    return f"{value:.4f}"
