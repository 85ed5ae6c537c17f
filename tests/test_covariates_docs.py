"""The covariates page (docs/covariates.md) and the README's "Covariates" section cannot rot.

Their code runs as written, the settings and limits they name are the package's, and the numbers
they quote come out of that code.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import clvpredict as cp
from clvpredict._units import months_to_units
from clvpredict.data import covariates as coding
from clvpredict.models import _covariate_model

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "covariates.md").read_text()
README = (ROOT / "README.md").read_text()
MODELS = (cp.BetaGeoModel, cp.ModifiedBetaGeoModel, cp.ParetoNBDModel)
MINUS = "\N{MINUS SIGN}"


def _code(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def _section(markdown: str, title: str) -> str:
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end >= 0 else None]


def _prose(title: str) -> str:
    """A section of the page with its line breaks and indents as single spaces."""
    return re.sub(r"\s+", " ", _section(PAGE, title))


def _signed(value: float, spec: str) -> str:
    return format(value, spec).replace("-", MINUS)


@pytest.fixture(scope="module")
def page_run() -> dict:
    """The page's code blocks run in order in one namespace, as a reader would in one session."""
    namespace: dict = {}
    for block in _code(PAGE):
        exec(compile(block, "docs/covariates.md", "exec"), namespace)
    return namespace


def test_the_readme_section_runs():
    section = _section(README, "Covariates")
    (block,) = _code(section)
    namespace: dict = {}
    exec(compile("import clvpredict as cp\n" + block, "README.md", "exec"), namespace)
    assert namespace["bg"].covariate_design_ is not None
    assert namespace["bg"].covariate_design_.column("channel").reference == "store"
    assert "docs/covariates.md" in section and "notebooks/quickstart.ipynb" in section


def test_the_page_runs_and_fits_what_it_says(page_run):
    bg = page_run["bg"]
    assert list(bg.params_.index) == [
        "r",
        "alpha",
        "a",
        "b",
        # In the order of the channel's declared categories: store, web, partner.
        "purchase.channel[web]",
        "purchase.channel[partner]",
        "purchase.loyalty",
        "purchase.age_decades",
        "dropout.loyalty",
    ]
    # The default reference level is the most frequent one.
    customers = page_run["customers"]
    assert customers["channel"].value_counts().idxmax() == "store"
    assert bg.covariate_design_.column("channel").reference == "store"
    assert bg.likelihood_ratio_test()["p_value"] < 1e-10


@pytest.mark.parametrize("text", [PAGE, _section(README, "Covariates")], ids=["page", "readme"])
def test_every_name_it_uses_exists(text):
    for dotted in set(re.findall(r"`cp\.([\w.]+)", text)):
        obj = cp
        for part in dotted.split("."):
            assert hasattr(obj, part), dotted
            obj = getattr(obj, part)


def test_the_settings_table_is_the_models_signature():
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", _section(PAGE, "Settings"), re.M)
    defaults = {"none": (), "0": 0.0, "the most frequent level": None}
    assert [name for name, _ in rows] == [
        "purchase_covariates",
        "dropout_covariates",
        "shared_covariates",
        "categorical_covariates",
        "reference_levels",
        "covariate_penalty",
    ]
    for model in MODELS:
        parameters = inspect.signature(model.__init__).parameters
        for name, default in rows:
            assert parameters[name].default == defaults[default.strip()], (model, name)


def test_the_clvtools_table_names_real_settings():
    table = _section(PAGE, "The parameterisation")
    for setting in re.findall(r"\(`(\w+_covariates)`\)", table):
        assert setting in inspect.signature(cp.BetaGeoModel.__init__).parameters
    assert "`reg.lambdas = c(trans = λ, life = λ)` | `covariate_penalty = λ`" in table


def test_the_scale_warning_limits_are_the_packages():
    text = _prose("How the columns are coded")
    assert (
        f"the standard deviation is outside {coding.MIN_STD:g} to {coding.MAX_STD:g}, or the mean "
        f"is more than {coding.MAX_MEAN:g} from 0, or more than {coding.MEAN_SPREADS:g} standard "
        "deviations from 0" in text
    )


def test_the_grouping_limit_is_the_packages():
    text = _prose("Predictions")
    assert f"more than {_covariate_model._MAX_GROUPS} groups, or more than one per 50" in text


def test_the_report_section_quotes_the_packages_limits():
    from clvpredict.jobs import values

    text = _prose("On the command line")
    assert f"more than {values.NEW_CUSTOMER_PROFILES:,} distinct profiles" in text
    assert f"each row averages {values.NEW_CUSTOMER_SAMPLE:,} of its customers" in text


def test_the_penalty_example_quotes_its_output(page_run):
    shrinkage, settings = page_run["shrinkage"], page_run["settings"]
    text = _prose("Fitting")
    truth = cp.datasets.load_covariates_truth()["coefficients"]["dropout.loyalty"]
    assert (
        f"goes from {_signed(shrinkage[0.0], '.4f')} without a penalty to "
        f"{_signed(shrinkage[0.001], '.4f')} at 0.001 and {_signed(shrinkage[0.01], '.4f')} at "
        f"0.01 (the truth it was simulated with is {_signed(truth, 'g')})" in text
    )
    # Towards 0, further with a larger penalty.
    assert shrinkage[0.0] < shrinkage[0.001] < shrinkage[0.01] < 0
    # "Duplicating every customer gives the same estimates": the penalty is per customer.
    rfm = page_run["rfm"]
    twice = cp.BetaGeoModel(**settings, covariate_penalty=0.01).fit(rfm.assign(w=2), weights="w")
    assert twice.params_.to_numpy() == pytest.approx(
        page_run["fits"][0.01].params_.to_numpy(), rel=1e-6, abs=1e-9
    )


def test_the_new_customer_example_values_the_profile(page_run):
    bg, gg, web = page_run["bg"], page_run["gg"], page_run["web"]
    value = cp.new_customer_clv(bg, gg, 36, margin=0.3, covariates=web)
    assert value["expected_purchases"] == pytest.approx(
        bg.profile_model(web).expected_purchases_new_customer(months_to_units(36, "W")), rel=1e-12
    )
    with pytest.raises(cp.ClvDataError, match="age_decades"):
        bg.expected_purchases_new_customer(52, covariates={"channel": "web", "loyalty": 0})


def test_the_readme_command_lines_parse():
    """The README's covariate command lines are ones the CLI accepts, flag for flag."""
    import shlex

    from clvpredict.jobs.cli import build_parser

    section = _section(README, "Covariates")
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    commands = [c for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    assert [shlex.split(c)[1] for c in commands] == ["refresh", "score"]
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.covariates == "customers.csv"
    refresh = parser.parse_args(shlex.split(commands[0])[1:])
    assert refresh.purchase_covariates is not None and refresh.dropout_covariates is not None


def _covariate_flags(group: str) -> dict[str, str]:
    from clvpredict.jobs.cli import _parents

    return {a.option_strings[0]: a.dest for a in _parents()[group]._actions}


def test_the_command_line_table_is_the_parsers_and_the_settings():
    from clvpredict.jobs.settings import COVARIATE_TABLE_KEYS, Settings

    section = _section(PAGE, "On the command line")
    rows = re.findall(r"^\| `(--[\w-]+)[^`]*` \| `(\w+)` \| ([^|]+) \|$", section, re.M)
    flags = _covariate_flags("covariate_model")
    assert sorted(flag for flag, _, _ in rows) == sorted(flags)
    parameters = inspect.signature(cp.BetaGeoModel.__init__).parameters
    for flag, key, setting in rows:
        assert COVARIATE_TABLE_KEYS[key] == flags[flag], flag
        named = re.findall(r"`(\w+)`", setting)
        assert named and all(name in parameters for name in named), (flag, setting)
    # columns (--covariate-cols) is both processes, one coefficient in each.
    (row,) = [r for r in rows if r[0] == "--covariate-cols"]
    assert re.findall(r"`(\w+)`", row[2]) == ["purchase_covariates", "dropout_covariates"]
    lists = Settings(covariates="c.csv", covariate_cols=["channel"]).covariate_lists
    assert lists == {
        "purchase_covariates": ["channel"],
        "dropout_covariates": ["channel"],
        "shared_covariates": [],
    }
    assert "does **not** say which columns of the file to read" in _prose("On the command line")


def test_the_readme_names_every_covariate_flag():
    section = _section(README, "Covariates")
    for group in ("covariate_input", "covariate_model"):
        for flag in _covariate_flags(group):
            assert f"`{flag}" in section, flag
    assert "`--covariate-cols` (**both** processes, one coefficient in each" in re.sub(
        r"\s+", " ", section
    )


def _documented_parameters(doc: str) -> list[str]:
    """The names a numpydoc "Parameters" section documents (``a, b : type`` names two)."""
    lines = inspect.cleandoc(doc).splitlines()
    start = lines.index("Parameters") + 2
    assert set(lines[start - 1]) == {"-"}
    names = []
    for line, below in zip(lines[start:], [*lines[start + 1 :], ""], strict=True):
        if below and set(below) == {"-"}:
            break  # the next section's title
        if line and not line.startswith(" "):
            names += [name.strip() for name in line.split(":")[0].split(",")]
    return names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_class_docstring_documents_every_setting(model):
    documented = _documented_parameters(model.__doc__)
    settings = list(inspect.signature(model).parameters)
    assert sorted(documented) == sorted(settings)
    for name in (
        "purchase_covariates",
        "dropout_covariates",
        "shared_covariates",
        "categorical_covariates",
        "reference_levels",
        "covariate_penalty",
    ):
        assert name in documented
    attributes = inspect.cleandoc(model.__doc__).split("\nAttributes\n")[1]
    assert "covariate_design_ : CovariateDesign" in attributes
    assert "null_log_likelihood_ : float" in attributes


@pytest.mark.parametrize(
    "method",
    [
        "expected_purchases",
        "probability_alive",
        "probability_alive_at",
        "conditional_probability_of_purchases",
        "purchases_predictive_interval",
    ],
)
def test_per_customer_predictions_say_they_need_the_covariate_columns(method):
    for model in MODELS:
        doc = re.sub(r"\s+", " ", getattr(model, method).__doc__)
        assert "data" in _documented_parameters(getattr(model, method).__doc__)
        assert "covariate" in doc and "attach_covariates" in doc, (model, method)
    dert = re.sub(r"\s+", " ", cp.ParetoNBDModel.expected_discounted_residual_transactions.__doc__)
    assert "the covariate columns" in dert and "attach_covariates" in dert
