"""What code written for lifetimes tries on clvpredict's native API, and what to say back.

People moving from the archived ``lifetimes`` package call our models the way they called its
fitters: ``fit(frequency, recency, T)``, a positional ``penalizer_coef`` (``BetaGeoModel(0.01)``),
``model.predict(...)``,
``plotting.plot_probability_alive_matrix(model)``. Python's own errors for these say nothing
useful (``takes 2 positional arguments but 4 were given``, ``no attribute 'predict'``). The
tables here map each lifetimes name to the native way, and the functions build messages that
name the habit, the native call and the drop-in (:mod:`clvpredict.lifetimes`), which keeps
lifetimes' API. The models and :mod:`clvpredict.plotting` raise them; the "Coming from
lifetimes" page lists the same mapping for readers.

Only names: nothing here imports the models or the drop-in.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "FITTER_NAMES",
    "PLOTTING_NAMES",
    "attribute_message",
    "constructor_message",
    "plotting_message",
    "positional_fit_message",
]

#: The last sentence of every message.
DROPIN = (
    "To keep lifetimes' API instead, change the import: `import clvpredict.lifetimes as lifetimes`."
)


class Habit(NamedTuple):
    """A lifetimes name and its native counterpart."""

    #: What the name was in lifetimes (after "that is lifetimes' ...").
    was: str
    #: How to do it natively, as code with a short explanation.
    native: str
    #: The model attribute that must exist for the hint to apply (e.g. only purchase models have
    #: ``probability_alive``); ``None``: any model.
    needs: str | None = None


#: lifetimes fitter methods and attributes that our models do not have -> the native way.
FITTER_NAMES: dict[str, Habit] = {
    "predict": Habit(
        "shorthand for conditional_expected_number_of_purchases_up_to_time(t, frequency, "
        "recency, T)",
        "model.expected_purchases(t, summary) (or t, frequency=..., recency=..., T=...)",
        "expected_purchases",
    ),
    "conditional_expected_number_of_purchases_up_to_time": Habit(
        "expected purchases in the next t given each history",
        "model.expected_purchases(t, summary) (or t, frequency=..., recency=..., T=...)",
        "expected_purchases",
    ),
    "conditional_probability_alive": Habit(
        "P(alive) given each history",
        "model.probability_alive(summary) (or frequency=..., recency=..., T=...)",
        "probability_alive",
    ),
    "conditional_probability_alive_matrix": Habit(
        "the grid of P(alive) over frequency and recency",
        "clvpredict.evaluation.frequency_recency_matrix(model, T, max_frequency, "
        "quantity='probability_alive'), drawn by "
        "clvpredict.plotting.plot_probability_alive_heatmap(model)",
        "probability_alive",
    ),
    "expected_number_of_purchases_up_to_time": Habit(
        "expected purchases of a new customer in its first t",
        "model.expected_purchases_new_customer(t)",
        "expected_purchases_new_customer",
    ),
    "probability_of_n_purchases_up_to_time": Habit(
        "P(n purchases in t) for a new customer, called with (t, n)",
        "model.probability_of_purchases(n, t) (note the order: n first)",
        "probability_of_purchases",
    ),
    "conditional_probability_of_n_purchases_up_to_time": Habit(
        "P(n purchases in the next t) given each history",
        "model.conditional_probability_of_purchases(n, t, summary)",
        "conditional_probability_of_purchases",
    ),
    "expected_number_of_transactions_in_first_n_periods": Habit(
        "the BG/BB's expected number of customers with 0..n transactions in n periods",
        "model.probability_of_purchases(numpy.arange(n + 1), n) times the number of customers",
        "probability_of_purchases",
    ),
    "conditional_expected_average_profit": Habit(
        "the Gamma-Gamma's expected mean spend per purchase",
        "model.expected_average_value(summary) (or frequency=..., monetary_value=...)",
        "expected_average_value",
    ),
    "customer_lifetime_value": Habit(
        "the Gamma-Gamma fitter's discounted CLV (discount rate per month)",
        "clvpredict.clv_table(purchase_model, spend_model, summary, horizon_months=12, "
        "annual_discount_rate=0.1): the discount rate is per year",
        "expected_average_value",
    ),
    "save_model": Habit("saving the fitter as a pickle", "model.save(path) (a JSON model file)"),
    "load_model": Habit(
        "loading a pickled fitter into an instance", "model = clvpredict.load_model(path)"
    ),
    "generate_new_data": Habit(
        "customers simulated from the fitted parameters",
        "model.simulate(T, n_customers=...), or clvpredict.simulate_transactions for a log",
        "simulate",
    ),
    "variance_matrix_": Habit(
        "the parameters' covariance matrix", "model.covariance_ (set by fit)"
    ),
    "confidence_intervals_": Habit(
        "the parameters' 95% intervals",
        "model.summary() (columns lower_95 and upper_95; alpha= and method='profile' for others)",
    ),
}


#: lifetimes.plotting functions that clvpredict.plotting does not have -> the native function.
PLOTTING_NAMES: dict[str, Habit] = {
    "plot_probability_alive_matrix": Habit(
        "plot_probability_alive_matrix(model, max_frequency=None, max_recency=None)",
        "clvpredict.plotting.plot_probability_alive_heatmap(model, data=None, *, T=None, "
        "max_frequency=None); "
        "without data it reads the grid's extent from the data the model was fitted on",
    ),
    "plot_frequency_recency_matrix": Habit(
        "plot_frequency_recency_matrix(model, T=1, ...), whose T was the forecast horizon",
        "clvpredict.plotting.plot_expected_purchases_heatmap(model, t=1.0, data=None, *, T=None, "
        "max_frequency=None): the horizon is t; T there is the customers' age on the grid",
    ),
    "plot_calibration_purchases_vs_holdout_purchases": Habit(
        "plot_calibration_purchases_vs_holdout_purchases(model, calibration_holdout_matrix)",
        "clvpredict.plotting.plot_calibration_vs_holdout("
        "clvpredict.evaluate_holdout(model, cal_holdout))",
    ),
    "plot_history_alive": Habit(
        "plot_history_alive(model, t, transactions, datetime_col)",
        "clvpredict.plotting.plot_probability_alive_history(model, transactions, "
        "customer_id_col, datetime_col, customer_id)",
    ),
    "plot_expected_repeat_purchases": Habit(
        "plot_expected_repeat_purchases(model), the expected purchases of a new customer",
        "model.expected_purchases_new_customer(t) over a range of t, plotted with matplotlib",
    ),
    "plot_transaction_rate_heterogeneity": Habit(
        "plot_transaction_rate_heterogeneity(model), the Gamma density of purchase rates",
        "scipy.stats.gamma(r, scale=1 / alpha).pdf over the rates, with model.params_",
    ),
    "plot_dropout_rate_heterogeneity": Habit(
        "plot_dropout_rate_heterogeneity(model), the Beta density of dropout probabilities",
        "scipy.stats.beta(a, b).pdf over [0, 1], with model.params_",
    ),
}


def positional_fit_message(model: str, columns: tuple[str, ...]) -> str:
    """``model.fit(frequency, recency, T)`` (lifetimes' positional columns) was called."""
    listed = ", ".join(columns)
    keywords = ", ".join(f"{c}=..." for c in columns)
    return (
        f"{model}.fit takes a summary DataFrame, not lifetimes' positional "
        f"fit({listed}). Pass the summary, {model}().fit(summary), with columns {listed} "
        f"(clvpredict.rfm_summary makes one and records its time unit), or the columns as "
        f"keywords: fit({keywords}). {DROPIN}"
    )


def constructor_message(model: str) -> str:
    """A lifetimes-style constructor call with a positional setting."""
    return (
        f"{model} takes its settings as keywords only, e.g. {model}(penalizer_coef=0.001) "
        f"(lifetimes' first positional argument was penalizer_coef). {DROPIN}"
    )


def attribute_message(model: str, name: str) -> str:
    """The message for lifetimes' fitter attribute ``name`` (a key of :data:`FITTER_NAMES`)."""
    habit = FITTER_NAMES[name]
    return (
        f"{model} has no {name!r}, a name of lifetimes' fitters ({habit.was}). Natively: "
        f"{habit.native}. {DROPIN}"
    )


def plotting_message(name: str) -> str:
    """The message for lifetimes' plotting function ``name`` (a key of :data:`PLOTTING_NAMES`)."""
    habit = PLOTTING_NAMES[name]
    return (
        f"clvpredict.plotting has no {name}, a function of lifetimes.plotting ({habit.was}). "
        f"Natively: {habit.native}. {DROPIN}"
    )
