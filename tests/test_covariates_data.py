"""Customer covariates as data: joining, dummy coding by hand, refusals, model-file round trip."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

import clvpredict as cp
from clvpredict import ClvDataError
from clvpredict.data import CovariateDesign, attach_covariates


@pytest.fixture
def five() -> pd.DataFrame:
    """Five customers: channel A and B twice each (a tie), C once; age in decades; a flag."""
    return pd.DataFrame(
        {
            "channel": ["A", "B", "B", "C", "A"],
            "age": [2.5, 3.1, 4.0, 2.2, 3.3],
            "member": [True, False, True, False, False],
        },
        index=pd.Index(["c1", "c2", "c3", "c4", "c5"], name="customer_id"),
    )


def quiet(call, *args, **kwargs):
    """Run ``call`` with every warning an error: the case must not warn."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


# -- coding worked by hand -----------------------------------------------------------------------


def test_dummies_of_five_customers_by_hand(five):
    design = quiet(CovariateDesign.from_frame, five, purchase=["channel", "age"], dropout=["age"])
    # A and B tie with two customers each: the first in text order, A, is the reference.
    assert design.column("channel").levels == ("A", "B", "C")
    assert design.column("channel").reference == "A"
    assert design.purchase_names == ("channel[B]", "channel[C]", "age")
    assert design.dropout_names == ("age",)
    assert design.shared_names == ()
    z = design.matrices(five)
    expected = np.array(
        [
            [0.0, 0.0, 2.5],  # c1: A, the reference
            [1.0, 0.0, 3.1],  # c2: B
            [1.0, 0.0, 4.0],  # c3: B
            [0.0, 1.0, 2.2],  # c4: C
            [0.0, 0.0, 3.3],  # c5: A
        ]
    )
    np.testing.assert_array_equal(z.purchase, expected)
    np.testing.assert_array_equal(z.dropout, [[2.5], [3.1], [4.0], [2.2], [3.3]])
    assert z.shared.shape == (5, 0)
    assert z.purchase.dtype == np.float64
    # The named tuple unpacks as the three matrices.
    purchase, dropout, shared = z
    assert purchase is z.purchase and dropout is z.dropout and shared is z.shared


def test_most_frequent_level_is_the_default_reference(five):
    five["channel"] = ["C", "B", "B", "B", "A"]
    design = quiet(CovariateDesign.from_frame, five, purchase="channel")
    assert design.column("channel").reference == "B"
    assert design.purchase_names == ("channel[A]", "channel[C]")
    np.testing.assert_array_equal(
        design.matrices(five).purchase, [[0, 1], [0, 0], [0, 0], [0, 0], [1, 0]]
    )


def test_reference_level_chosen_by_the_user(five):
    design = quiet(
        CovariateDesign.from_frame, five, purchase=["channel"], reference_levels={"channel": "C"}
    )
    assert design.purchase_names == ("channel[A]", "channel[B]")
    np.testing.assert_array_equal(
        design.matrices(five).purchase, [[1, 0], [0, 1], [0, 1], [0, 0], [1, 0]]
    )


def test_booleans_are_categorical_with_reference_false(five):
    # True is as frequent as False here would not matter: False is the reference of a flag.
    five["member"] = [True, True, True, False, False]
    design = quiet(CovariateDesign.from_frame, five, shared=["member"])
    column = design.column("member")
    assert (column.kind, column.value_type) == ("categorical", "boolean")
    assert column.levels == ("False", "True")
    assert column.reference == "False"
    assert design.shared_names == ("member[True]",)
    np.testing.assert_array_equal(design.matrices(five).shared, [[1], [1], [1], [0], [0]])
    flipped = quiet(
        CovariateDesign.from_frame, five, shared=["member"], reference_levels={"member": True}
    )
    assert flipped.shared_names == ("member[False]",)


def test_shared_covariate_and_one_in_both_processes(five):
    design = quiet(
        CovariateDesign.from_frame,
        five,
        purchase=["age"],
        dropout=["age", "channel"],
        shared=["member"],
    )
    assert design.columns == ("age", "channel", "member")
    assert design.purchase_names == ("age",)
    assert design.dropout_names == ("age", "channel[B]", "channel[C]")
    assert design.shared_names == ("member[True]",)
    z = design.matrices(five)
    np.testing.assert_array_equal(z.purchase[:, 0], five["age"].to_numpy())
    np.testing.assert_array_equal(z.dropout[:, 0], five["age"].to_numpy())
    np.testing.assert_array_equal(z.dropout[:, 1:], [[0, 0], [1, 0], [1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(z.shared, [[1], [0], [1], [0], [0]])


def test_new_customer_profile(five):
    design = quiet(CovariateDesign.from_frame, five, purchase=["channel", "age"], shared=["member"])
    z = design.profile({"channel": "B", "age": 4.0, "member": True})
    np.testing.assert_array_equal(z.purchase, [[1.0, 0.0, 4.0]])
    assert z.dropout.shape == (1, 0)
    np.testing.assert_array_equal(z.shared, [[1.0]])
    # The reference level is a row of zeros: the model's base parameters.
    z = design.profile({"channel": "A", "age": 0, "member": False})
    np.testing.assert_array_equal(z.purchase, [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(z.shared, [[0.0]])


def test_profile_refusals_name_the_columns(five):
    design = quiet(CovariateDesign.from_frame, five, purchase=["channel", "age"])
    with pytest.raises(ClvDataError, match=r"missing: \['age'\]"):
        design.profile({"channel": "B"})
    with pytest.raises(ClvDataError, match=r"not covariates of the model: \['region'\]"):
        design.profile({"channel": "B", "age": 3.0, "region": "north"})
    with pytest.raises(ClvDataError, match=r"'channel' has level\(s\) 'D' .*\['A', 'B', 'C'\]"):
        design.profile({"channel": "D", "age": 3.0})
    with pytest.raises(ClvDataError, match="'channel' must be one value"):
        design.profile({"channel": ["A", "B"], "age": 3.0})


def test_integer_categories_are_levels_as_text_in_their_declared_order():
    frame = pd.DataFrame({"region": pd.Categorical([7, 12, 7, 3, 7])}, index=list("abcde"))
    assert list(frame["region"].cat.categories) == [3, 7, 12]
    design = quiet(CovariateDesign.from_frame, frame, purchase="region")
    column = design.column("region")
    # The categories' order (pandas sorted them as numbers), not text order ("12" < "3");
    # 7 is the most frequent, the reference.
    assert column.levels == ("3", "7", "12")
    assert (column.reference, column.value_type) == ("7", "integer")
    assert design.purchase_names == ("region[3]", "region[12]")
    np.testing.assert_array_equal(
        design.matrices(frame).purchase, [[0, 0], [0, 1], [0, 0], [1, 0], [0, 0]]
    )
    np.testing.assert_array_equal(design.profile({"region": 12}).purchase, [[0, 1]])


def test_weighted_distinct_rows_give_the_design_of_the_customers(five):
    five["age"] = [2.0, 3.0, 3.0, 2.0, 3.0]
    full = quiet(CovariateDesign.from_frame, five, purchase=["channel", "age"])
    # What an engine hands back: the distinct rows and how many customers share each.
    distinct = five.groupby(["channel", "age"]).size().rename("weight").reset_index()
    assert distinct.to_dict("list") == {
        "channel": ["A", "A", "B", "C"],
        "age": [2.0, 3.0, 3.0, 2.0],
        "weight": [1, 1, 2, 1],
    }
    grouped = quiet(
        CovariateDesign.from_frame, distinct, purchase=["channel", "age"], weights="weight"
    )
    assert grouped.column("channel").reference == full.column("channel").reference == "A"
    assert grouped.column("age").mean == pytest.approx(full.column("age").mean, abs=1e-15)
    assert grouped.column("age").std == pytest.approx(full.column("age").std, rel=1e-14)
    assert grouped == full
    # The weights count: five customers of B outnumber two of A, though A has more rows.
    heavy = distinct.assign(weight=[1, 1, 5, 1])
    design = quiet(CovariateDesign.from_frame, heavy, purchase="channel", weights="weight")
    assert design.column("channel").reference == "B"
    assert (
        quiet(CovariateDesign.from_frame, heavy, purchase="channel").column("channel").reference
        == "A"
    )
    with pytest.raises(ClvDataError, match=r"weights='weight' must be positive numbers"):
        CovariateDesign.from_frame(distinct.assign(weight=0), purchase="age", weights="weight")
    with pytest.raises(ClvDataError, match=r"weights='n' must be a column"):
        CovariateDesign.from_frame(distinct, purchase="age", weights="n")


def test_reference_level_given_as_a_number_and_matrices_of_a_polars_frame():
    frame = pd.DataFrame({"region": pd.Categorical([7, 12, 7, 3, 7])}, index=list("abcde"))
    design = quiet(
        CovariateDesign.from_frame, frame, purchase="region", reference_levels={"region": 3}
    )
    assert design.purchase_names == ("region[7]", "region[12]")
    new = pl.DataFrame({"region": [3, 12, 7]})
    np.testing.assert_array_equal(design.matrices(new).purchase, [[0, 0], [0, 1], [1, 0]])


def test_many_missing_values_show_the_first_five(five):
    frame = pd.DataFrame({"age": [np.nan] * 7 + [1.0, 2.0]}, index=[f"id{i}" for i in range(9)])
    with pytest.raises(
        ClvDataError,
        match=r"missing for 7 customer\(s\): 'id0', 'id1', 'id2', 'id3', 'id4', \.\.\. \(2 more\)",
    ):
        CovariateDesign.from_frame(frame, purchase="age")


def test_no_covariates_gives_empty_matrices(five):
    design = CovariateDesign.from_frame(five)
    assert design.is_empty
    z = design.matrices(five)
    assert [m.shape for m in z] == [(5, 0), (5, 0), (5, 0)]


# -- the column's own order of levels ------------------------------------------------------------


@pytest.fixture
def sizes() -> pd.DataFrame:
    """Seven customers: a size declared S < M < L < XL (no XL customer), M the most frequent;
    a region code; a cohort year."""
    return pd.DataFrame(
        {
            "size": pd.Categorical(
                ["M", "S", "L", "M", "M", "S", "L"], categories=["S", "M", "L", "XL"]
            ),
            "region": [10, 2, 1, 2, 10, 10, 1],
            "cohort": [2023, 2021, 2022, 2021, 2023, 2022, 2021],
        },
        index=pd.Index([f"c{i}" for i in range(1, 8)], name="customer_id"),
    )


def test_declared_categories_order_the_dummies(sizes):
    used = sizes.assign(size=sizes["size"].cat.remove_unused_categories())
    design = quiet(CovariateDesign.from_frame, used, purchase="size")
    column = design.column("size")
    # Declared order, not text order (L < M < S); M, with three customers, is the reference.
    assert column.levels == ("S", "M", "L")
    assert column.reference == "M"
    assert design.purchase_names == ("size[S]", "size[L]")
    np.testing.assert_array_equal(
        design.matrices(used).purchase,
        [[0, 0], [1, 0], [0, 1], [0, 0], [0, 0], [1, 0], [0, 1]],
    )
    # An ordered categorical is coded the same way.
    ordered = used.assign(size=used["size"].cat.as_ordered())
    assert quiet(CovariateDesign.from_frame, ordered, purchase="size") == design
    # The same levels as plain text come in text order, with the same reference.
    text = quiet(CovariateDesign.from_frame, used.astype({"size": str}), purchase="size")
    assert text.purchase_names == ("size[L]", "size[S]")


def test_ties_go_to_the_first_declared_level_and_the_first_is_not_the_default(sizes):
    # S and L tie with two customers each; S is declared first.
    tied = pd.DataFrame(
        {"size": pd.Categorical(["L", "S", "L", "M", "S"], categories=["M", "S", "L"])},
        index=list("abcde"),
    )
    design = quiet(CovariateDesign.from_frame, tied, purchase="size")
    # M, the first declared category, has one customer: it is not the reference.
    assert design.column("size").reference == "S"
    assert design.purchase_names == ("size[M]", "size[L]")
    # Text order would have broken the tie for L.
    text = quiet(CovariateDesign.from_frame, tied.astype({"size": str}), purchase="size")
    assert text.column("size").reference == "L"
    # patsy's and R's coding: the first declared category as the reference, by name.
    first = quiet(CovariateDesign.from_frame, tied, purchase="size", reference_levels={"size": "M"})
    assert first.purchase_names == ("size[S]", "size[L]")
    np.testing.assert_array_equal(
        first.matrices(tied).purchase, [[0, 1], [1, 0], [0, 1], [0, 0], [1, 0]]
    )


def test_declared_levels_without_customers_get_no_dummy(sizes):
    with pytest.warns(UserWarning, match=r"'size' declares level\(s\) 'XL' that no customer"):
        design = CovariateDesign.from_frame(sizes, purchase="size")
    assert design.column("size").levels == ("S", "M", "L")
    assert design.purchase_names == ("size[S]", "size[L]")
    # No column of zeros: every dummy has customers.
    assert design.matrices(sizes).purchase.sum(axis=0).tolist() == [2.0, 2.0]
    with pytest.raises(ClvDataError, match=r"'size' has level\(s\) 'XL' the model was not"):
        design.profile({"size": "XL"})
    with pytest.raises(
        ClvDataError,
        match=r"reference_levels\['size'\] = 'XL' is a declared category .* no customer",
    ):
        CovariateDesign.from_frame(sizes, purchase="size", reference_levels={"size": "XL"})
    # Declared levels without customers do not count: this column has one level.
    one = sizes.assign(size=pd.Categorical(["M"] * 7, categories=["S", "M"]))
    with pytest.raises(ClvDataError, match=r"'size' has one level \('M'\)"):
        CovariateDesign.from_frame(one, purchase="size")


def test_numbers_named_categorical_are_levels_in_numeric_order(sizes):
    design = quiet(CovariateDesign.from_frame, sizes, purchase=["region"], categorical=["region"])
    column = design.column("region")
    assert (column.kind, column.value_type) == ("categorical", "integer")
    # 1 < 2 < 10 as numbers (as text, "10" would come first); 10 is the most frequent.
    assert column.levels == ("1", "2", "10")
    assert column.reference == "10"
    assert design.purchase_names == ("region[1]", "region[2]")
    np.testing.assert_array_equal(
        design.matrices(sizes).purchase,
        [[0, 0], [0, 1], [1, 0], [0, 1], [0, 0], [0, 0], [1, 0]],
    )
    # A new customer's region as a number, a float or text is the same level.
    for value in (2, 2.0, "2", np.int32(2)):
        np.testing.assert_array_equal(design.profile({"region": value}).purchase, [[0, 1]])
    # Floats with whole values are the same levels.
    floats = sizes.astype({"region": float})
    assert (
        quiet(CovariateDesign.from_frame, floats, purchase="region", categorical="region")
        .column("region")
        .levels
        == column.levels
    )
    # Without the setting the column is a number.
    assert quiet(CovariateDesign.from_frame, sizes, purchase="region").column("region").kind == (
        "numeric"
    )


def test_a_numeric_reference_level_given_as_number_or_text(sizes):
    designs = [
        quiet(
            CovariateDesign.from_frame,
            sizes,
            dropout=["region"],
            categorical=["region"],
            reference_levels={"region": level},
        )
        for level in (2, "2", 2.0)
    ]
    assert designs[0] == designs[1] == designs[2]
    assert designs[0].dropout_names == ("region[1]", "region[10]")
    with pytest.raises(ClvDataError, match=r"reference_levels\['region'\] = '3' is not a level"):
        CovariateDesign.from_frame(
            sizes, dropout="region", categorical="region", reference_levels={"region": 3}
        )
    # A reference level for a number not named categorical says how to make it one.
    with pytest.raises(ClvDataError, match=r"numeric covariate .* name it in categorical="):
        CovariateDesign.from_frame(sizes, dropout="region", reference_levels={"region": 2})
    with pytest.raises(
        ClvDataError, match=r"categorical names column\(s\) \['cohort'\] that are not covariates"
    ):
        CovariateDesign.from_frame(sizes, dropout="region", categorical=["region", "cohort"])


def test_a_cohort_year_as_categories_is_not_a_badly_scaled_number(sizes):
    with pytest.warns(UserWarning, match="'cohort' has mean 2022"):
        CovariateDesign.from_frame(sizes, purchase="cohort")
    design = quiet(CovariateDesign.from_frame, sizes, purchase="cohort", categorical="cohort")
    assert design.purchase_names == ("cohort[2022]", "cohort[2023]")
    np.testing.assert_array_equal(
        design.matrices(sizes).purchase,
        [[0, 1], [0, 0], [1, 0], [0, 0], [0, 1], [1, 0], [0, 0]],
    )


def test_numeric_levels_given_as_text_later_are_told_so(sizes):
    design = quiet(CovariateDesign.from_frame, sizes, purchase="region", categorical="region")
    later = sizes.assign(region=["10", "02", "1", "2", "10", "10", "1"])
    with pytest.raises(ClvDataError) as error:
        design.matrices(later)
    message = str(error.value)
    assert "'region' has level(s) '02'" in message
    assert "held integer levels and these are text" in message


def test_a_numeric_categorical_design_round_trips_through_json(sizes):
    used = sizes.assign(size=sizes["size"].cat.remove_unused_categories())
    design = quiet(
        CovariateDesign.from_frame,
        used,
        purchase=["size"],
        dropout=["region"],
        shared=["cohort"],
        categorical=["region", "cohort"],
        reference_levels={"region": 1},
    )
    back = CovariateDesign.from_dict(json.loads(json.dumps(design.to_dict(), allow_nan=False)))
    assert back == design
    assert back.column("region").levels == ("1", "2", "10")
    assert back.column("region").value_type == "integer"
    assert back.purchase_names == ("size[S]", "size[L]")
    assert back.dropout_names == ("region[2]", "region[10]")
    assert back.shared_names == ("cohort[2022]", "cohort[2023]")
    for ours, theirs in zip(design.matrices(used), back.matrices(used), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        back.profile({"size": "S", "region": 10, "cohort": 2021}).dropout, [[0, 1]]
    )


def test_polars_enum_keeps_its_order_and_categorical_is_text(sizes):
    table = pl.DataFrame(
        {
            "size": pl.Series(["M", "S", "L", "M", "M", "S", "L"], dtype=pl.Enum(["S", "M", "L"])),
            "plain": pl.Series(["M", "S", "L", "M", "M", "S", "L"], dtype=pl.Categorical),
        }
    )
    design = quiet(CovariateDesign.from_frame, table, purchase=["size"], dropout=["plain"])
    assert design.purchase_names == ("size[S]", "size[L]")
    # A polars Categorical declares no order (pandas would see the order of first appearance,
    # M, S, L): its levels are text.
    assert design.column("plain").levels == ("L", "M", "S")
    assert design.dropout_names == ("plain[L]", "plain[S]")
    # The same frame through attach_covariates, and a summary grouped by its engine.
    summary = pd.DataFrame(
        {"frequency": [1, 2, 0, 3, 1, 0, 2], "recency": 1.0, "T": 5.0},
        index=pd.Index(list("abcdefg"), name="customer_id"),
    )
    joined = attach_covariates(summary, table.with_columns(customer_id=pl.Series(list("abcdefg"))))
    assert joined["plain"].dtype != "category"
    assert quiet(CovariateDesign.from_frame, joined, purchase="size", dropout="plain") == design
    from clvpredict.data.engines import histories

    grouped = histories(
        pl.from_pandas(summary.reset_index()).with_columns(table).lazy(),
        ["frequency", "size", "plain"],
    )
    assert list(grouped["size"].cat.categories) == ["S", "M", "L"]
    assert grouped["plain"].dtype != "category"
    weighted = quiet(
        CovariateDesign.from_frame, grouped, purchase="size", dropout="plain", weights="weight"
    )
    assert weighted == design


# -- refusals at design time ----------------------------------------------------------------------


def test_unknown_level_names_it_the_column_and_the_known_levels(five):
    design = quiet(CovariateDesign.from_frame, five, purchase="channel")
    new = five.assign(channel=["A", "D", "E", "D", "B"])
    with pytest.raises(ClvDataError) as error:
        design.matrices(new)
    message = str(error.value)
    assert "'D', 'E'" in message
    assert "'channel'" in message
    assert "['A', 'B', 'C']" in message


def test_missing_value_names_the_customers_and_the_column(five):
    five.loc[["c2", "c4"], "age"] = np.nan
    with pytest.raises(ClvDataError, match=r"'age' is missing for 2 customer\(s\): 'c2', 'c4'"):
        CovariateDesign.from_frame(five, purchase=["age"])
    design = quiet(CovariateDesign.from_frame, five.dropna(), purchase=["age"])
    with pytest.raises(ClvDataError, match=r"'age' is missing .* 'c2', 'c4'"):
        design.matrices(five)
    categorical = five.assign(channel=["A", None, "B", "C", "A"])
    with pytest.raises(ClvDataError, match=r"'channel' is missing for 1 customer\(s\): 'c2'"):
        CovariateDesign.from_frame(categorical, dropout=["channel"])


def test_constant_and_one_level_columns_are_refused(five):
    five["country"] = "NL"
    five["plan"] = 3.0
    with pytest.raises(ClvDataError, match=r"'country' has one level \('NL'\)"):
        CovariateDesign.from_frame(five, purchase=["age", "country"])
    with pytest.raises(ClvDataError, match=r"'plan' is constant \(3.0"):
        CovariateDesign.from_frame(five, dropout=["plan"])


def test_collinear_numbers_are_named_with_the_constant(five):
    five["age_plus"] = 2.0 * five["age"] + 1.0
    with pytest.raises(ClvDataError) as error:
        CovariateDesign.from_frame(five, purchase=["channel", "age", "age_plus"])
    message = str(error.value)
    assert "purchase process are collinear" in message
    assert "['the constant', 'age', 'age_plus']" in message
    assert "channel" not in message


def test_collinear_dummies_of_two_columns_are_named(five):
    # The campaign is the channel under other names: campaign[y] is channel[B].
    five["campaign"] = five["channel"].map({"A": "x", "B": "y", "C": "z"})
    with pytest.raises(ClvDataError) as error:
        CovariateDesign.from_frame(five, purchase=["age"], dropout=["channel"], shared=["campaign"])
    message = str(error.value)
    assert "dropout process" in message
    assert "'channel[B]'" in message and "'campaign[y]'" in message
    assert "age" not in message


def test_collinearity_is_checked_per_process(five):
    # The same column in both processes (a coefficient each) is not collinear with itself.
    design = quiet(CovariateDesign.from_frame, five, purchase=["age"], dropout=["age"])
    assert design.purchase_names == design.dropout_names == ("age",)


def test_too_few_customers_for_the_columns(five):
    five["other"] = [1.0, 0.0, 0.0, 0.0, 0.5]
    with pytest.raises(ClvDataError, match=r"5 covariate columns .* only 5 rows"):
        CovariateDesign.from_frame(five, purchase=["channel", "age", "member", "other"])


def test_column_not_found_and_named_twice(five):
    with pytest.raises(ClvDataError, match=r"\['region'\] are not in the data"):
        CovariateDesign.from_frame(five, purchase=["age", "region"])
    with pytest.raises(ClvDataError, match=r"purchase names column\(s\) \['age'\] more than once"):
        CovariateDesign.from_frame(five, purchase=["age", "age"])


@pytest.mark.parametrize("process", ["purchase", "dropout"])
def test_a_column_both_shared_and_in_a_process_is_refused(five, process):
    with pytest.raises(ClvDataError, match=rf"\['age'\] are both in shared and in {process}"):
        CovariateDesign.from_frame(five, shared=["age"], **{process: ["age", "channel"]})


def test_dates_and_mixed_values_are_refused_with_what_to_do(five):
    five["signup"] = pd.to_datetime(
        ["2020-01-01", "2021-03-05", "2020-07-01", "2022-01-01", "2021-01-01"]
    )
    with pytest.raises(ClvDataError, match=r"'signup' holds dtype datetime64.*Convert it"):
        CovariateDesign.from_frame(five, purchase=["signup"])
    five["mixed"] = pd.Series(["a", 1, "b", 2.5, "a"], index=five.index, dtype=object)
    with pytest.raises(
        ClvDataError, match=r"'mixed' holds object values of type\(s\) \['float', 'int', 'str'\]"
    ):
        CovariateDesign.from_frame(five, purchase=["mixed"])


def test_reference_level_refusals(five):
    with pytest.raises(
        ClvDataError, match=r"reference_levels\['channel'\] = 'D' .* \['A', 'B', 'C'\]"
    ):
        CovariateDesign.from_frame(five, purchase="channel", reference_levels={"channel": "D"})
    with pytest.raises(ClvDataError, match="gives 'age' a reference level, but it is a numeric"):
        CovariateDesign.from_frame(five, purchase="age", reference_levels={"age": 3})
    with pytest.raises(
        ClvDataError, match=r"names column\(s\) \['region'\] that are not covariates"
    ):
        CovariateDesign.from_frame(five, purchase="age", reference_levels={"region": "x"})


def test_text_where_a_number_was_fitted_is_refused(five):
    design = quiet(CovariateDesign.from_frame, five, purchase="age")
    with pytest.raises(ClvDataError, match=r"'age' is numeric in the model .* Convert it"):
        design.matrices(five.assign(age=["25", "31", "40", "22", "33"]))
    # Examples are distinct values.
    with pytest.raises(ClvDataError, match=r"\(e\.g\. 'no', 'yes'\)\. Convert it to numbers"):
        design.matrices(five.assign(age=["no", "yes", "no", "no", "yes"]))


# -- scale ---------------------------------------------------------------------------------------


def test_badly_scaled_number_warns_with_its_mean_and_std(five):
    five["age_years"] = [25.0, 31.0, 40.0, 22.0, 33.0]
    with pytest.warns(
        UserWarning, match=r"'age_years' has mean 30.2 and standard deviation 7.05"
    ) as record:
        design = CovariateDesign.from_frame(five, purchase=["age_years"])
    assert "Centre and scale it" in str(record[0].message)
    # The values are used as given: the warning does not rescale them.
    np.testing.assert_array_equal(design.matrices(five).purchase[:, 0], five["age_years"])


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([1000.0, 5000.0, 2500.0, 12000.0, 800.0], "std above 10"),
        ([0.01, 0.02, 0.015, 0.03, 0.012], "std below 0.1"),
        ([2020.0, 2021.0, 2022.0, 2020.0, 2023.0], "mean far from 0"),
        ([5.0, 5.2, 4.8, 5.3, 4.7], "mean above 10 standard deviations"),
        ([-14.0, -10.0, -12.0, -9.0, -13.0], "mean below -10"),
    ],
)
def test_each_scale_rule_warns(five, values, why):
    five["x"] = values
    with pytest.warns(UserWarning, match="'x' has mean"):
        CovariateDesign.from_frame(five, dropout=["x"])


def test_well_scaled_numbers_and_rare_indicators_do_not_warn(five):
    five["rare"] = [0, 0, 0, 0, 1]  # std 0.45: fine anyway
    quiet(CovariateDesign.from_frame, five, purchase=["age", "rare"])
    many = pd.DataFrame({"rare": np.r_[np.ones(2), np.zeros(998)]})
    # std 0.045, but a 0/1 indicator is on its natural scale.
    quiet(CovariateDesign.from_frame, many, purchase=["rare"])


# -- model files -----------------------------------------------------------------------------------


def test_round_trip_through_json_gives_identical_matrices(five):
    # Not ["007", "012", "007", "100", "012"]: its dummies and member[True] add up to the
    # constant, and the design is refused as collinear.
    five["store"] = ["007", "012", "007", "100", "007"]
    design = quiet(
        CovariateDesign.from_frame,
        five,
        purchase=["channel", "age"],
        dropout=["store"],
        shared=["member"],
        reference_levels={"channel": "C"},
    )
    # Strict JSON: no NaN, no numpy scalars.
    text = json.dumps(design.to_dict(), allow_nan=False)
    back = CovariateDesign.from_dict(json.loads(text))
    assert back == design
    assert hash(back) == hash(design)
    assert back.column("store").levels == ("007", "012", "100")
    assert back.column("store").reference == "007"
    for ours, theirs in zip(design.matrices(five), back.matrices(five), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert back.purchase_names == ("channel[A]", "channel[B]", "age")
    assert back.dropout_names == ("store[012]", "store[100]")


def test_round_trip_keeps_integer_levels_and_numbers(five):
    five["region"] = pd.Categorical([7, 12, 7, 3, 7])
    design = quiet(CovariateDesign.from_frame, five, purchase=["region", "age"])
    back = CovariateDesign.from_dict(json.loads(json.dumps(design.to_dict())))
    assert back.column("region").value_type == "integer"
    assert back.column("age").mean == design.column("age").mean == pytest.approx(3.02)
    assert back.column("region").levels == ("3", "7", "12")
    np.testing.assert_array_equal(back.profile({"region": 3, "age": 1.5}).purchase, [[1, 0, 1.5]])


def test_from_dict_refuses_other_formats(five):
    data = quiet(CovariateDesign.from_frame, five, purchase="channel").to_dict()
    with pytest.raises(ClvDataError, match="format 1"):
        CovariateDesign.from_dict({**data, "format": 2})
    data["covariates"][0]["reference"] = "Z"
    with pytest.raises(ClvDataError, match=r"reference level 'Z' is not among its levels"):
        CovariateDesign.from_dict(data)


def test_text_levels_read_as_numbers_say_leading_zeros(five):
    five["store"] = ["007", "012", "007", "100", "012"]
    design = quiet(CovariateDesign.from_frame, five, purchase=["store"])
    with pytest.raises(ClvDataError) as error:
        design.matrices(five.assign(store=[7, 12, 7, 100, 12]))
    message = str(error.value)
    assert "'12', '7'" in message  # 100 is a known level even as a number
    assert "leading zeros" in message and "dtype={'store': str}" in message


# -- joining ---------------------------------------------------------------------------------------


@pytest.fixture
def summary() -> pd.DataFrame:
    tx = pd.DataFrame(
        {
            "customer_id": ["007", "007", "012", "100", "100", "100"],
            "date": [
                "2024-01-01",
                "2024-02-01",
                "2024-01-10",
                "2024-01-03",
                "2024-01-20",
                "2024-03-01",
            ],
            "amount": [10.0, 20.0, 5.0, 8.0, 9.0, 11.0],
        }
    )
    return cp.rfm_summary(
        tx, "customer_id", "date", "amount", observation_end="2024-03-31", time_unit="W"
    )


def covariate_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["100", "007", "555", "012"],  # 555 has no purchases: ignored
            "channel": ["B", "A", "A", "B"],
            "age": [3.0, 4.5, 2.0, 2.5],
        }
    )


def test_attach_from_a_column_keeps_order_and_attrs(summary, caplog):
    with caplog.at_level(logging.DEBUG, logger="clvpredict.data.covariates"):
        out = attach_covariates(summary, covariate_table())
    assert list(out.index) == ["007", "012", "100"]
    assert out.index.name == "customer_id"
    assert list(out.columns) == [*summary.columns, "channel", "age"]
    assert list(out["channel"]) == ["A", "B", "B"]
    assert list(out["age"]) == [4.5, 2.5, 3.0]
    assert out.attrs == summary.attrs
    assert out.attrs["time_unit"] == "W"
    pd.testing.assert_frame_equal(out[summary.columns], summary)
    assert "1 customer(s) of the table are not in the summary" in caplog.text


def test_attach_from_the_index_and_a_subset_of_columns(summary):
    table = covariate_table().set_index("customer_id")
    out = attach_covariates(summary, table, columns=["age"])
    assert list(out.columns) == [*summary.columns, "age"]
    assert list(out["age"]) == [4.5, 2.5, 3.0]


def test_attach_a_polars_table_with_text_ids(summary):
    table = pl.from_pandas(covariate_table())
    out = attach_covariates(summary, table)
    assert list(out["channel"]) == ["A", "B", "B"]
    assert out.attrs["time_unit"] == "W"
    design = quiet(CovariateDesign.from_frame, out, purchase=["channel"], dropout=["age"])
    # B (two customers) is the reference.
    assert design.purchase_names == ("channel[A]",)
    np.testing.assert_array_equal(design.matrices(out).purchase, [[1], [0], [0]])


def test_attach_a_pyarrow_table_with_another_id_name(summary):
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pandas(covariate_table().rename(columns={"customer_id": "cust"}))
    out = attach_covariates(summary, table, id_col="cust")
    assert list(out["age"]) == [4.5, 2.5, 3.0]


def test_attach_refuses_missing_customers_naming_them(summary):
    table = covariate_table()[lambda t: t["customer_id"] != "012"]
    with pytest.raises(ClvDataError, match=r"1 customer\(s\) of the summary are not in .*: '012'"):
        attach_covariates(summary, table)


def test_attach_says_when_missing_ids_lost_their_leading_zeros(summary):
    table = covariate_table().assign(customer_id=["100", "7", "555", "012"])
    with pytest.raises(ClvDataError) as error:
        attach_covariates(summary, table)
    message = str(error.value)
    assert "1 customer(s) of the summary are not in the covariates table: '007'" in message
    assert "other leading zeros ('007')" in message


def test_attach_shows_both_sides_ids_when_none_match(summary):
    """Ids with a trailing space (a fixed-width export): every customer is missing, and the
    message shows how the ids differ."""
    spaced = covariate_table().assign(customer_id=lambda t: t["customer_id"] + " ")
    with pytest.raises(ClvDataError) as error:
        attach_covariates(summary, spaced)
    message = str(error.value)
    assert "3 customer(s) of the summary are not in the covariates table" in message
    assert "spaces around them ('007' is '007 ', '012' is '012 ', '100' is '100 ' there)" in (
        message
    )
    assert (
        "No customer of the summary is in the table: the table's ids look like '100 ', "
        "'007 ', '555 '"
    ) in message
    assert "the summary's like '007', '012', '100'" in message
    # Other prefixes: the ids of both sides, without the spaces hint.
    prefixed = covariate_table().assign(customer_id=lambda t: "C" + t["customer_id"])
    with pytest.raises(ClvDataError) as error:
        attach_covariates(summary, prefixed)
    message = str(error.value)
    assert "the table's ids look like 'C100', 'C007', 'C555'" in message
    assert "spaces around them (" not in message
    # One customer missing among others: no comparison of the two sides.
    with pytest.raises(ClvDataError) as error:
        attach_covariates(summary, covariate_table()[lambda t: t["customer_id"] != "012"])
    assert "No customer of the summary" not in str(error.value)


def test_attach_refuses_duplicate_ids_naming_them(summary):
    table = pd.concat([covariate_table(), covariate_table().iloc[[1]]])
    with pytest.raises(ClvDataError, match=r"1 customer id\(s\) on more than one row: '007'"):
        attach_covariates(summary, table)


def test_attach_refuses_number_ids_against_text_ids(summary):
    table = covariate_table().assign(customer_id=[100, 7, 555, 12])
    with pytest.raises(ClvDataError) as error:
        attach_covariates(summary, table)
    message = str(error.value)
    assert "text in the summary ('007', '012', '100')" in message
    assert "numbers in the covariates table (100, 7, 555)" in message
    assert "leading zeros" in message and "dtype={'customer_id': str}" in message


def test_number_ids_match_whatever_their_width():
    summary = pd.DataFrame(
        {"frequency": [1, 0], "recency": [2.0, 0.0], "T": [5.0, 3.0]},
        index=pd.Index([7, 12], name="id", dtype="int64"),
    )
    table = pd.DataFrame({"x": [0.5, -0.5]}, index=pd.Index([12.0, 7.0], name="id"))
    out = attach_covariates(summary, table)
    assert list(out["x"]) == [-0.5, 0.5]


def test_attach_refuses_row_numbers_and_clashing_columns(summary):
    table = covariate_table().rename(columns={"customer_id": "cust"})
    with pytest.raises(
        ClvDataError, match="no column named 'customer_id' and its index is row numbers"
    ):
        attach_covariates(summary, table)
    clash = covariate_table().assign(frequency=1)
    with pytest.raises(ClvDataError, match=r"\['frequency'\] are already columns of the summary"):
        attach_covariates(summary, clash)
    with pytest.raises(ClvDataError, match=r"\['region'\] are not in the covariates table"):
        attach_covariates(summary, covariate_table(), columns=["region"])


def test_attach_refuses_a_summary_that_is_not_pandas(summary):
    with pytest.raises(ClvDataError, match=r"pandas summary .* got DataFrame"):
        attach_covariates(pl.from_pandas(summary.reset_index()), covariate_table())


def test_exported_at_the_top():
    assert cp.CovariateDesign is CovariateDesign
    assert cp.attach_covariates is attach_covariates


def test_an_unusable_reference_level_names_its_column_in_a_typed_error(sizes):
    """The refusals of a reference level are ReferenceLevelError (a ClvDataError) carrying the
    column, so that a caller that chose the level (a refresh keeping the previous model's)
    can tell them apart without reading the message; the column survives pickling (an error
    sent back from a worker process)."""
    import pickle

    from clvpredict.exceptions import ReferenceLevelError

    for settings in (
        {"categorical": "region", "reference_levels": {"region": 3}},
        {"reference_levels": {"region": 2}},
    ):
        with pytest.raises(ReferenceLevelError) as caught:
            CovariateDesign.from_frame(sizes, dropout="region", **settings)
        assert caught.value.column == "region"
        assert isinstance(caught.value, ClvDataError)
        again = pickle.loads(pickle.dumps(caught.value))
        assert (type(again), str(again), again.column) == (
            ReferenceLevelError,
            str(caught.value),
            "region",
        )
