"""compare_models: one row per model, numbers equal to each model's own evaluation."""

from __future__ import annotations

import numpy as np
import pytest

import clvpredict as cp


def test_rows_are_each_models_own_numbers(cdnow_cal_holdout):
    bg = cp.BetaGeoModel().fit(cdnow_cal_holdout)
    # A model with given (not estimated) parameters is compared but cannot be "best".
    shifted = cp.BetaGeoModel.from_params(bg.params_ * [1.5, 1.0, 1.0, 1.0], time_unit="W")
    table = cp.compare_models(cdnow_cal_holdout, [bg, shifted])
    assert list(table.columns) == [
        "log_likelihood",
        "n_params",
        "aic",
        "bic",
        "mae",
        "rmse",
        "correlation",
        "pct_error",
        "converged",
        "best",
    ]
    row = table.iloc[0]
    evaluation = cp.evaluate_holdout(bg, cdnow_cal_holdout)
    assert row["rmse"] == pytest.approx(evaluation.metrics["rmse"].iloc[0])
    assert row["mae"] == pytest.approx(evaluation.metrics["mae"].iloc[0])
    assert row["pct_error"] == pytest.approx(evaluation.totals["pct_error"].iloc[0])
    assert row["aic"] == pytest.approx(2 * 4 - 2 * bg.log_likelihood_)
    assert row["bic"] == pytest.approx(4 * np.log(2357) - 2 * bg.log_likelihood_)
    # The two differ in one setting: the unit given to from_params.
    assert list(table.index) == ["BG/NBD", "BG/NBD (time_unit='W')"]
    assert table["best"].tolist() == [True, False]
    assert table.attrs["models"]["BG/NBD"] is bg
    assert table.attrs["models"]["BG/NBD (time_unit='W')"] is shifted
    assert table.loc["BG/NBD (time_unit='W')", "rmse"] == pytest.approx(
        cp.evaluate_holdout(shifted, cdnow_cal_holdout).metrics["rmse"].iloc[0]
    )


def test_default_models_rank_by_holdout_rmse(cdnow_cal_holdout):
    table = cp.compare_models(cdnow_cal_holdout)
    assert set(table.index) == {"BG/NBD", "MBG/NBD", "Pareto/NBD"}
    assert table["converged"].all()
    assert table["best"].sum() == 1
    assert table.loc[table["best"]].index[0] == table["rmse"].idxmin()
    by_bic = cp.compare_models(cdnow_cal_holdout, criterion="bic")
    assert by_bic.loc[by_bic["best"]].index[0] == by_bic["bic"].idxmin()
    # Published log-likelihoods of the three fits on this calibration period.
    assert table.loc["BG/NBD", "log_likelihood"] == pytest.approx(-9582.43, abs=0.05)
    assert table.loc["MBG/NBD", "log_likelihood"] == pytest.approx(-9582.13, abs=0.05)
    assert table.loc["Pareto/NBD", "log_likelihood"] == pytest.approx(-9594.98, abs=0.05)


def test_bad_criterion(cdnow_cal_holdout):
    with pytest.raises(cp.ClvDataError, match="criterion"):
        cp.compare_models(cdnow_cal_holdout, [cp.BetaGeoModel()], criterion="vibes")


def test_a_covariate_model_is_compared_with_its_likelihood_ratio_test():
    from clvpredict.data import datasets

    log = datasets.load_covariates_transactions()
    ch = cp.calibration_holdout_summary(
        log, "customer_id", "date", "2025-01-31", "2025-06-29", time_unit="W"
    )
    ch = cp.attach_covariates(ch, datasets.load_covariates_customers())
    with_covariates = cp.BetaGeoModel(purchase_covariates=["channel"]).fit(ch)
    plain = cp.BetaGeoModel().fit(ch)
    table = cp.compare_models(ch, [plain, with_covariates])
    assert list(table.index) == ["BG/NBD", "BG/NBD + covariates"]
    row = table.loc["BG/NBD + covariates"]
    assert row["lr_statistic"] == pytest.approx(
        2 * (with_covariates.log_likelihood_ - plain.log_likelihood_), rel=1e-9
    )
    assert row["lr_df"] == 2
    assert row["lr_p_value"] == pytest.approx(
        with_covariates.likelihood_ratio_test()["p_value"], rel=1e-12
    )
    assert np.isnan(table.loc["BG/NBD", "lr_statistic"])
    assert table.loc["BG/NBD", "lr_note"] == "no covariates"
    # A calibration summary without the covariate columns: the refusal says how to join them.
    bare = ch.drop(columns=datasets.load_covariates_customers().columns)
    for call in (
        lambda: cp.evaluate_holdout(with_covariates, bare),
        lambda: cp.compare_models(bare, [cp.BetaGeoModel(purchase_covariates=["channel"])]),
    ):
        with pytest.raises(cp.ClvDataError, match=r"\['channel'\]") as refused:
            call()
        assert "clvpredict.attach_covariates(summary, customers)" in str(refused.value)


def test_models_sharing_a_label_are_named_by_the_settings_they_differ_in():
    from clvpredict.evaluation import _distinct_labels

    models = [
        cp.BetaGeoModel(),
        cp.BetaGeoModel(penalizer_coef=0.1),
        cp.BetaGeoModel(penalizer_coef=0.1, on_nonconvergence="raise"),
        cp.BetaGeoModel(penalizer_coef=0.1),
        cp.ParetoNBDModel(penalizer_coef=0.1),
    ]
    assert _distinct_labels(models) == [
        "BG/NBD",
        "BG/NBD (penalizer_coef=0.1)",
        "BG/NBD (penalizer_coef=0.1, on_nonconvergence='raise')",
        # The same settings as the second: numbered.
        "BG/NBD (penalizer_coef=0.1) (2)",
        # Alone with its label: no settings shown.
        "Pareto/NBD",
    ]


def test_a_penalty_path_is_labelled_by_penalty_and_says_why_it_has_no_lr_test():
    from clvpredict.data import datasets

    log = datasets.load_covariates_transactions()
    ch = cp.calibration_holdout_summary(
        log, "customer_id", "date", "2025-01-31", "2025-06-29", time_unit="W"
    )
    ch = cp.attach_covariates(ch, datasets.load_covariates_customers())
    penalties = (0.0, 0.001, 0.01)
    models = [
        cp.BetaGeoModel(purchase_covariates=["channel"], covariate_penalty=p) for p in penalties
    ]
    table = cp.compare_models(ch, models)
    assert list(table.index) == [
        "BG/NBD + covariates",
        "BG/NBD + covariates (covariate_penalty=0.001)",
        "BG/NBD + covariates (covariate_penalty=0.01)",
    ]
    for name, model, penalty in zip(table.index, models, penalties, strict=True):
        assert table.attrs["models"][name] is model and model.covariate_penalty == penalty
    plain = table.loc["BG/NBD + covariates"]
    assert plain["lr_statistic"] == pytest.approx(
        models[0].likelihood_ratio_test()["statistic"], rel=1e-12
    )
    assert plain["lr_note"] == ""
    for penalty in penalties[1:]:
        row = table.loc[f"BG/NBD + covariates (covariate_penalty={penalty})"]
        assert np.isnan(row[["lr_statistic", "lr_df", "lr_p_value"]].astype(float)).all()
        assert row["lr_note"] == (
            f"no LR test: penalised fit (covariate_penalty={penalty}), not maximum likelihood"
        )
