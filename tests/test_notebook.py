"""The quickstart notebook is committed with its outputs, and they are the outputs it gives now.

``notebooks/regenerate.py`` runs the notebook in a kernel of this interpreter, in an empty
temporary folder with a fixed environment (Jupyter's inline backend, progress bars off), and
saves it with its outputs so that it reads on GitHub. These tests run a copy of the committed
file the same way (the file on disk is only read) and compare the two, output by output:

* the same outputs of the same kinds in every code cell, and no errors;
* every text output equal: streams, ``text/plain`` and ``text/html``. Only what legitimately
  varies is normalised: memory addresses, trailing blanks, and where pandas puts the ``\\``
  that continues a wide table (pandas 2.0 and 3 put it on different lines). Numbers are parsed
  from the text: integers must be equal; a number with decimals may differ by one unit in its
  last printed digit (a rounding that fell the other way) plus :data:`REL_TOL` of its value,
  for floating point that varies across numpy/scipy versions (the newest and the lowest
  declared versions printed identical numbers when this was written);
* an ``image/png`` in the same outputs (the pixels vary with matplotlib and FreeType versions
  and are not compared).

A stale notebook fails with the command that regenerates it.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

import clvpredict

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
REGENERATE = "python notebooks/regenerate.py"
KERNEL = "python3"
MAX_BYTES = 2_000_000  # the file with its figures

#: Relative difference allowed between numbers parsed from the outputs (besides the rounding of
#: their last printed digit).
REL_TOL = 1e-6

# Fader, Hardie & Lee (2005), CDNOW sample, 39-week calibration ending 1997-09-30, in weeks.
PUBLISHED_BGNBD = {"r": 0.2426, "alpha": 4.4137, "a": 0.7930, "b": 2.4262}

# Appended to the in-memory copy only: which interpreter and which clvpredict the kernel used.
PROBE = (
    "import json as _json, sys as _sys\n"
    "import clvpredict as _cp\n"
    "print(_json.dumps({'executable': _sys.executable, 'clvpredict': _cp.__file__}))"
)


def _load_runner():
    spec = importlib.util.spec_from_file_location(
        "regenerate", ROOT / "notebooks" / "regenerate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


def _read() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)


def _code(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(scope="module")
def committed() -> nbformat.NotebookNode:
    return _read()


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> nbformat.NotebookNode:
    """A copy of the committed notebook, cleared and executed top to bottom as the
    regeneration script does; fails the test if any cell raises."""
    nb = _read()
    for cell in _code(nb):
        cell.outputs = []
        cell.execution_count = None
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    try:
        workdir = runner.execute(nb, tmp_path_factory.mktemp("notebook"))
    except CellExecutionError as exc:
        pytest.fail(f"notebooks/quickstart.ipynb failed:\n{exc}", pytrace=False)
    assert not any(workdir.iterdir()), "the notebook wrote files into its working directory"
    return nb


def _tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected exactly one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def _result_value(cell: nbformat.NotebookNode):
    """The Python literal shown as the cell's final expression (its execute_result)."""
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(results) == 1, f"cell {cell.get('id')!r} should end with one expression"
    return ast.literal_eval(results[0].data["text/plain"])


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


# ------------------------------------------------------------------------------------------
# The committed file
# ------------------------------------------------------------------------------------------


def test_committed_with_outputs(committed):
    nbformat.validate(committed)
    code = _code(committed)
    assert code, "the notebook has no code cells"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"cells saved out of order or not run (execution counts {counts}): run {REGENERATE}"
    )
    errors = [o.ename for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"the notebook was saved with errors {errors}"
    assert committed.metadata["kernelspec"]["name"] == KERNEL
    assert committed.metadata["kernelspec"]["language"] == "python"
    # Timing metadata would change at every regeneration.
    assert not any("execution" in c.metadata for c in code)
    assert NOTEBOOK.stat().st_size < MAX_BYTES


def test_alternates_explanations_and_code():
    nb = _read()
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[-1].cell_type == "markdown"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 10


# ------------------------------------------------------------------------------------------
# The executed notebook
# ------------------------------------------------------------------------------------------


def test_kernel_is_this_interpreter(executed):
    probe = json.loads(_stdout(executed.cells[-1]).strip().splitlines()[-1])
    assert probe["executable"] == sys.executable
    assert Path(probe["clvpredict"]).resolve() == Path(clvpredict.__file__).resolve()


def test_every_code_cell_ran(executed):
    code = _code(executed)
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors


# Numbers as printed: digits with optional thousands separators, decimals and exponent. A sign
# stays in the text around them and must match as text.
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
# pandas' mark that a wide table continues below, which pandas versions put on different lines.
_CONTINUED = re.compile(r"[ \t]*\\?[ \t]*$", re.MULTILINE)


def _normalised(text: str) -> str:
    return _CONTINUED.sub("", _ADDRESS.sub("0x...", text))


def _last_digit(number: str) -> float:
    """One unit of the last printed digit of ``number`` (1 for an integer)."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _numbers_agree(old: str, new: str) -> bool:
    if old == new:
        return True
    if not any(mark in old + new for mark in ".eE"):
        return False  # integers (counts, ids, dates) are exact
    x, y = float(old.replace(",", "")), float(new.replace(",", ""))
    slack = max(_last_digit(old), _last_digit(new))
    return abs(x - y) <= slack + REL_TOL * max(abs(x), abs(y))


def _text_difference(old: str, new: str) -> str | None:
    """Where two text outputs differ beyond the tolerances of this module, or None."""
    old, new = _normalised(old), _normalised(new)
    old_numbers, new_numbers = _NUMBER.findall(old), _NUMBER.findall(new)
    old_words, new_words = _NUMBER.split(old), _NUMBER.split(new)
    if old_words != new_words or len(old_numbers) != len(new_numbers):
        for old_line, new_line in zip(old.splitlines(), new.splitlines(), strict=False):
            if _NUMBER.split(old_line) != _NUMBER.split(new_line):
                return f"committed {old_line.strip()!r}, now {new_line.strip()!r}"
        return f"committed {len(old.splitlines())} lines, now {len(new.splitlines())}"
    for old_number, new_number in zip(old_numbers, new_numbers, strict=True):
        if not _numbers_agree(old_number, new_number):
            return f"committed {old_number}, now {new_number}"
    return None


def _output_difference(old: nbformat.NotebookNode, new: nbformat.NotebookNode) -> str | None:
    if old.output_type != new.output_type:
        return f"a {old.output_type} output is now {new.output_type}"
    if old.output_type == "stream":
        if old.name != new.name:
            return f"{old.name} output is now {new.name}"
        return _text_difference(old.text, new.text)
    if old.output_type == "error":
        return "an error output"
    if set(old.data) != set(new.data):
        return f"output of {sorted(old.data)} is now {sorted(new.data)}"
    for mime in sorted(old.data):
        if mime.startswith("text/"):
            difference = _text_difference(old.data[mime], new.data[mime])
            if difference is not None:
                return f"{mime}: {difference}"
    return None


def test_committed_outputs_are_the_outputs_of_today(committed, executed):
    code_now = _code(executed)[:-1]  # without the probe
    stale = []
    for number, (old, new) in enumerate(zip(_code(committed), code_now, strict=True), start=1):
        if len(old.outputs) != len(new.outputs):
            found = f"{len(old.outputs)} outputs committed, {len(new.outputs)} now"
        else:
            found = next(
                filter(None, map(_output_difference, old.outputs, new.outputs)),
                None,
            )
        if found is not None:
            stale.append(f"code cell {number} ({old.source.splitlines()[0][:50]!r}): {found}")
    assert not stale, (
        "notebooks/quickstart.ipynb is out of date; run `"
        + REGENERATE
        + "` from the repository's root and commit it.\n"
        + "\n".join(stale)
    )


def test_plots_are_shown(committed):
    shown = [_images(c) for c in _code(committed)]
    assert sum(shown) >= 8
    # A plot call alone in a cell shows one figure; so do several plots on one figure.
    plot_cells = [c for c in _code(committed) if "plotting.plot_" in c.source]
    assert [_images(c) for c in plot_cells] == [1] * len(plot_cells)


def test_bgnbd_estimates_match_the_published_ones(executed):
    params = _result_value(_tagged(executed, "bgnbd-params"))
    assert set(params) == set(PUBLISHED_BGNBD)
    for name, published in PUBLISHED_BGNBD.items():
        # Three significant digits, as in the paper's rounding.
        assert f"{params[name]:.3g}" == f"{published:.3g}", (name, params[name], published)
        assert params[name] == pytest.approx(published, rel=1e-3), name


def test_holdout_totals(executed):
    totals = _result_value(_tagged(executed, "holdout-totals"))
    # 2,357 customers in the CDNOW sample; 1,882 repeat purchase days in the holdout, counted by
    # hand from the raw transactions in tests/test_evaluation.py.
    assert totals["customers"] == 2357
    assert totals["actual_holdout_transactions"] == 1882
    assert 0 < totals["predicted_holdout_transactions"] < 2 * 1882


def _table_rows(cell: nbformat.NotebookNode, names: tuple[str, ...]) -> dict[str, list[float]]:
    """The numbers of each named row of the DataFrame a cell shows (a wide table printed in
    blocks of columns has each row once per block)."""
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    rows: dict[str, list[float]] = {name: [] for name in names}
    for line in result.data["text/plain"].splitlines():
        label, _, rest = line.partition(" ")
        if label in rows:
            rows[label] += [float(n) for n in rest.replace("\\", " ").split()]
    return rows


def test_the_ranking_verdict_quotes_the_printed_numbers(executed):
    rows = _table_rows(_tagged(executed, "clv-ranking"), ("predictive_clv", "simple_clv"))
    (predictive_rho, predictive_share), (simple_rho, simple_share) = rows.values()
    # Almost a tie on CDNOW, the model slightly ahead on both measures.
    assert (round(predictive_rho, 3), round(simple_rho, 3)) == (0.426, 0.399)
    assert 0 < predictive_rho - simple_rho < 0.05
    assert 0 < predictive_share - simple_share < 0.01
    verdict = _tagged(executed, "ranking-verdict").source.replace("\n", " ")
    for rho in (predictive_rho, simple_rho):
        assert f"Spearman correlation of {rho:.3f}" in verdict or f", {rho:.3f}." in verdict, rho
    for share in (predictive_share, simple_share):
        assert f"{share:.1%}" in verdict, share
    assert "almost a tie" in verdict


def _shown_table(cell: nbformat.NotebookNode) -> tuple[list[str], dict[str, list[str]]]:
    """The column names and the rows (label: cells as text) of the DataFrame a cell shows whole
    (one block of columns, one header line and one index-name line)."""
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    header, _, *lines = result.data["text/plain"].splitlines()
    rows = {}
    for line in lines:
        label, *cells = line.split()
        rows[label] = cells
    return header.split(), rows


def test_the_calibration_reading_says_what_the_table_shows(executed):
    columns, rows = _shown_table(_tagged(executed, "by-frequency"))
    table = {
        label: dict(zip(columns, map(float, cells), strict=True)) for label, cells in rows.items()
    }
    # The bins whose model mean lies outside the 95% interval of the actual mean, as plotted.
    outside = [
        label
        for label, row in table.items()
        if abs(row["mean_predicted"] - row["mean_actual"])
        > 1.96 * row["sd_actual"] / row["n_customers"] ** 0.5
    ]
    assert outside == ["1", "2"]
    text = _tagged(executed, "calibration-reading").source.replace("\n", " ")
    assert "under-forecasts the light repeat buyers" in text
    for label in outside:
        row = table[label]
        assert row["mean_predicted"] < row["mean_actual"]
        assert f"{row['n_customers']:.0f} " in text
        assert f"{row['mean_actual']:.2f}" in text and f"{row['mean_predicted']:.2f}" in text
    short = sum(
        table[label]["n_customers"] * (table[label]["mean_actual"] - table[label]["mean_predicted"])
        for label in outside
    )
    totals = _result_value(_tagged(executed, "holdout-totals"))
    missing = totals["actual_holdout_transactions"] - totals["predicted_holdout_transactions"]
    assert f"about {short:.0f} of the {missing:.0f} purchases" in text


def test_the_model_choice_quotes_the_comparison(executed):
    columns, rows = _shown_table(_tagged(executed, "model-comparison"))
    assert columns[-1] == "best"
    table = {
        label: dict(zip(columns[:-1], map(float, cells[:-1]), strict=True))
        for label, cells in rows.items()
    }
    (best,) = [label for label, cells in rows.items() if cells[-1] == "True"]
    # The text explains why the notebook keeps the BG/NBD although another model ranks first.
    assert best == "Pareto/NBD"
    text = _tagged(executed, "model-choice").source.replace("\n", " ")
    for model in ("BG/NBD", best):
        for column in ("rmse", "mae"):
            assert f"{table[model][column]:.4f}" in text, (model, column)
        assert f"{table[model]['pct_error']:.1f}%".replace("-", "\N{MINUS SIGN}") in text
        assert f"{table[model]['log_likelihood']:,.1f}".replace("-", "\N{MINUS SIGN}") in text
    lower = 1 - table[best]["rmse"] / table["BG/NBD"]["rmse"]
    assert f"({lower:.1%} lower)" in text
    assert "published reference" in text


# ------------------------------------------------------------------------------------------
# Section 10: covariates, on the simulated data set whose truth is recorded
# ------------------------------------------------------------------------------------------


def _text(nb: nbformat.NotebookNode, tag: str) -> str:
    return _tagged(nb, tag).source.replace("\n", " ")


def _signed(value: float, spec: str) -> str:
    """A number as the prose writes it: a typographic minus sign."""
    return format(value, spec).replace("-", "\N{MINUS SIGN}")


def _rows(nb: nbformat.NotebookNode, tag: str, columns: tuple[str, ...], labels: tuple[str, ...]):
    """The rows of the table a tagged cell shows, as {label: {column: number}}."""
    rows = _table_rows(_tagged(nb, tag), labels)
    for label, values in rows.items():
        assert len(values) == len(columns), (tag, label, values)
    return {label: dict(zip(columns, values, strict=True)) for label, values in rows.items()}


COEFFICIENTS = (
    "purchase.channel[partner]",
    "purchase.channel[web]",
    "purchase.loyalty",
    "purchase.age_decades",
)
CHANNELS = ("store", "web", "partner")


@pytest.fixture(scope="module")
def covariate_fit(executed):
    """The estimates against the truth, as the notebook shows them."""
    labels = ("r", "alpha", "a", "b", *COEFFICIENTS, "dropout.loyalty")
    return _rows(executed, "covariate-truth", ("estimate", "std_error", "truth", "z"), labels)


def test_the_covariate_fit_recovers_the_truth(executed, covariate_fit):
    z = {label: row["z"] for label, row in covariate_fit.items()}
    farthest = max(z, key=lambda label: abs(z[label]))
    assert farthest == "purchase.age_decades"
    assert all(abs(value) < 1.5 for value in z.values()), z
    text = _text(executed, "truth-reading")
    assert "within 1.5 standard errors" in text
    assert f"`{farthest}`, at {abs(z[farthest]):.2f}" in text
    web = covariate_fit["purchase.channel[web]"]
    assert f"truth is {web['truth']:g}, its estimate {web['estimate']:.4f}" in text


def test_the_likelihood_ratio_reading_quotes_the_test(executed):
    printed = _stdout(_tagged(executed, "covariate-lr"))
    found = re.search(r"LR statistic (\S+) on (\d+) degrees of freedom, p = (\S+)", printed)
    statistic, df, p_value = found.groups()
    assert int(df) == 5  # one per coefficient
    assert float(p_value) < 1e-20
    text = _text(executed, "covariate-lr-reading")
    assert f"in log-likelihood, {statistic}, would" in text
    assert f"with {df} degrees of freedom" in text
    assert f"p-value of {p_value}." in text


def test_the_coefficients_read_as_rate_ratios(executed, covariate_fit):
    ratios = _rows(executed, "rate-ratios", ("rate_ratio", "lower_95", "upper_95"), COEFFICIENTS)
    web = ratios["purchase.channel[web]"]
    estimate = covariate_fit["purchase.channel[web]"]["estimate"]
    assert web["rate_ratio"] == pytest.approx(math.exp(estimate), abs=1e-3)
    text = _text(executed, "rate-reading")
    assert f"is {estimate:.4f}, and e^{estimate:.4f} = {web['rate_ratio']:.2f}" in text
    assert f"buy {web['rate_ratio'] - 1:.0%} more often than store customers" in text
    assert f"between {web['lower_95']:.2f} and {web['upper_95']:.2f} times" in text
    partner, loyalty, age = (
        ratios[label]["rate_ratio"] for label in COEFFICIENTS if label != "purchase.channel[web]"
    )
    assert partner < 1 < min(loyalty, age)
    assert f"Partner customers buy {partner:.2f} times as often" in text
    assert f"loyalty members {loyalty:.2f} times as often" in text
    assert f"multiplies the rate by {age:.2f}" in text


def test_the_new_customer_readings_quote_the_tables(executed):
    mix = _rows(executed, "channel-mix", ("customers", "share_members", "mean_age"), CHANNELS)
    columns = ("expected_purchases", "clv", "clv_lower", "clv_upper", "undiscounted")
    alike = _rows(executed, "new-customer-value", columns, CHANNELS)
    typical = _rows(executed, "new-customer-mix", ("expected_purchases", "clv"), CHANNELS)
    printed = _stdout(_tagged(executed, "new-customer-value"))
    first = re.search(r"the first purchase: (\S+)\n", printed).group(1)
    ratio = re.search(r"same loyalty and age: (\S+) times", printed).group(1)
    web, store = alike["web"], alike["store"]
    assert float(ratio) == pytest.approx(
        web["expected_purchases"] / store["expected_purchases"], abs=0.01
    )
    rate_ratio = _rows(
        executed, "rate-ratios", ("rate_ratio", "lower_95", "upper_95"), COEFFICIENTS
    )["purchase.channel[web]"]["rate_ratio"]
    # Fewer extra purchases than the extra rate: faster buyers also use up their chances to stay.
    assert float(ratio) < rate_ratio
    for row in alike.values():
        assert row["clv_lower"] < row["clv"] < min(row["clv_upper"], row["undiscounted"])
    text = _text(executed, "new-customer-reading")
    assert (
        f"make {web['expected_purchases']:.2f} repeat purchases in 3 years, a new store customer "
        f"{store['expected_purchases']:.2f}: {ratio} times as many, not {rate_ratio:.2f}." in text
    )
    assert (
        f"worth {web['clv']:.2f} dollars (90% interval {web['clv_lower']:.2f} to "
        f"{web['clv_upper']:.2f}) against {store['clv']:.2f} for the store customer "
        f"({store['clv_lower']:.2f} to {store['clv_upper']:.2f}), or {web['undiscounted']:.2f} "
        f"and {store['undiscounted']:.2f} undiscounted; the first purchase adds {first} to each."
        in text
    )
    # The channels' mixes of customers, as the text describes them.
    assert mix["web"]["mean_age"] < mix["store"]["mean_age"]
    assert mix["web"]["share_members"] < mix["store"]["share_members"]
    assert (
        f"({mix['web']['mean_age']:.1f} years on average against {mix['store']['mean_age']:.1f}"
        in text
    )
    assert (
        f"({mix['web']['share_members']:.0%} against {mix['store']['share_members']:.0%})" in text
    )
    # Valued with the customers each channel brings, web and store come out about equal.
    text = _text(executed, "mix-reading")
    web, store, partner = (typical[c] for c in ("web", "store", "partner"))
    assert abs(web["clv"] / store["clv"] - 1) < 0.02
    assert partner["clv"] == min(row["clv"] for row in typical.values())
    assert f"({web['expected_purchases']:.2f} repeat purchases, {web['clv']:.2f} dollars)" in text
    assert f"({store['expected_purchases']:.2f}, {store['clv']:.2f} dollars)" in text
    assert f"({partner['clv']:.2f} dollars)" in text


def test_the_existing_customers_reading_quotes_the_table(executed):
    columns = ("customers", "mean_p_alive", "mean_purchases", "mean_clv", "total_clv")
    table = _rows(executed, "existing-by-channel", columns, CHANNELS)
    store, web, partner = (table[c] for c in CHANNELS)
    assert store["mean_clv"] > web["mean_clv"] > partner["mean_clv"]
    assert 0.4 < partner["mean_clv"] / store["mean_clv"] < 0.6  # "about half as much"
    assert store["total_clv"] > 0.5 * sum(row["total_clv"] for row in table.values())
    text = _text(executed, "existing-reading")
    assert f"({store['mean_clv']:.2f} dollars on average)" in text
    assert f"a little less ({web['mean_clv']:.2f})" in text
    assert f"about half as much ({partner['mean_clv']:.2f})" in text
    assert f"most of the total ({store['total_clv']:,.2f} dollars)" in text
    # "worth less on average than the typical new customer of the channel"
    typical = _rows(executed, "new-customer-mix", ("expected_purchases", "clv"), CHANNELS)
    assert all(table[c]["mean_clv"] < typical[c]["clv"] for c in CHANNELS)
    assert "worth less on average than the typical new customer of the channel" in text


def test_the_dropout_caution_quotes_the_table(executed, covariate_fit):
    columns = ("a_i", "b_i", "mean_p", "below_5pct", "above_50pct", "repeat_purchases")
    table = _rows(executed, "dropout-spread", columns, ("non_member", "member"))
    member, other = table["member"], table["non_member"]
    # The BG/NBD's dropout covariate moves the spread of p, not its mean.
    assert member["mean_p"] == other["mean_p"]
    assert member["a_i"] + member["b_i"] < other["a_i"] + other["b_i"]
    assert (
        member["below_5pct"] > other["below_5pct"] and member["above_50pct"] > other["above_50pct"]
    )
    estimate = covariate_fit["dropout.loyalty"]["estimate"]
    assert estimate < 0
    assert f"`dropout.loyalty` is {_signed(estimate, '.4f')}," in _text(executed, "dropout-caution")
    text = _text(executed, "dropout-reading")
    assert f"after a purchase, {member['mean_p']:.4f}." in text
    assert (
        f"But {member['below_5pct']:.0%} of members have a dropout probability below 5%, against "
        f"{other['below_5pct']:.0%} of non-members, and {member['above_50pct']:.0%} of members are "
        f"above 50%, against {other['above_50pct']:.0%}." in text
    )
    assert (
        f"members make {member['repeat_purchases']:.2f} repeat purchases in 3 years against "
        f"{other['repeat_purchases']:.2f}" in text
    )


# ------------------------------------------------------------------------------------------
# Plots in a notebook with Jupyter's own inline display
# ------------------------------------------------------------------------------------------

INLINE_CELLS = [
    # 0: data and a model
    "import clvpredict as cp\n"
    "summary = cp.rfm_summary(cp.datasets.load_cdnow(), 'customer_id', 'date', 'amount',\n"
    "                         observation_end='1997-09-30', time_unit='W', after_end='drop')\n"
    "bg = cp.BetaGeoModel().fit(summary)",
    # 1: a plot call alone, as a cell's last line
    "cp.plotting.plot_period_transactions(bg, summary)",
    # 2: kept in a name and silenced with a semicolon
    "ax = cp.plotting.plot_probability_alive_heatmap(bg, summary);",
    # 3: two plots on the caller's own axes: one figure
    "import matplotlib.pyplot as plt\n"
    "fig, axes = plt.subplots(1, 2, figsize=(10, 4))\n"
    "cp.plotting.plot_period_transactions(bg, summary, ax=axes[0])\n"
    "cp.plotting.plot_probability_alive_heatmap(bg, summary, ax=axes[1])",
]


@pytest.fixture(scope="module")
def inline_executed(tmp_path_factory) -> nbformat.NotebookNode:
    """A small notebook run with Jupyter's default backend (no MPLBACKEND: the kernel's own
    choice, the inline backend)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in INLINE_CELLS]
    nb.metadata["kernelspec"] = {"name": KERNEL, "language": "python", "display_name": "Python 3"}
    runner.execute(nb, tmp_path_factory.mktemp("inline"), {"MPLBACKEND": None})
    return nb


def _images(cell: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.outputs)


def test_a_plot_call_alone_shows_its_figure(inline_executed):
    cells = inline_executed.cells
    assert [_images(c) for c in cells] == [0, 1, 1, 1]
