"""The fit of the purchase models with customer covariates is right.

(1) A second implementation, written here from the papers and not from the package's code:
    each model's individual log-likelihood (BG/NBD: Fader, Hardie & Lee 2005, eq. 6; MBG/NBD:
    Batislam, Denizel & Filiztekin 2007; Pareto/NBD: the closed form with Gauss hypergeometric
    functions of Fader & Hardie's 2005 note, its branch chosen per customer, checked against a
    quadrature of the death-time integral) with each customer's own parameters, maximised
    directly with scipy. The package's estimates, log-likelihood, gradient and standard errors
    agree with it.
(2) Covariates at 0 are the plain model: the covariate likelihood with every coefficient at 0 is
    the plain model's, and a customer whose covariates are 0 is predicted as by the plain model.
    (That every published figure still reproduces is tests/test_reference.py.)
(3) Recovery: the shipped data set with covariates gives its truth back within 99% Wald
    intervals; so does a simulated Pareto/NBD data set for its dropout coefficient.
(4) The likelihood-ratio test: its statistic is 2 (LL - LL_plain) of two separate fits; it does
    not reject on data without effects and rejects on the shipped data set.
(5) The L2 penalty on the coefficients: shrinkage as it grows, and the estimates of a direct
    maximisation of the penalised objective written here.
(6) Profile intervals of the coefficients: the statistic at each bound is chi2_1(0.95), both by
    the package's profile and by a constrained maximisation of the likelihood written here.

The coverage of the intervals and the LR test's size over many data sets are the slow study,
benchmarks/covariate_recovery.py.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

import clvpredict as cp
from clvpredict.exceptions import ClvDataError
from clvpredict.models._profile import profile_likelihood_ratio
from clvpredict.simulation import simulate_with_covariates

# ------------------------------------------------------------------------------------------
# The second implementation
# ------------------------------------------------------------------------------------------


def bgnbd_ll(r, alpha, a, b, x, t_x, T):
    """BG/NBD log-likelihood of each customer (Fader, Hardie & Lee 2005, eq. 6):

    L = B(a, b + x) / B(a, b) * Gamma(r + x) alpha^r / (Gamma(r) (alpha + T)^(r + x))
        + [x > 0] B(a + 1, b + x - 1) / B(a, b) * Gamma(r + x) alpha^r
          / (Gamma(r) (alpha + t_x)^(r + x)).
    """
    front = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    alive = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    died = np.full(np.broadcast(r, alpha, a, b, x).shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (
            special.betaln(a + 1, b + x - 1) - special.betaln(a, b) - (r + x) * np.log(alpha + t_x)
        )
    died[repeat] = np.broadcast_to(value, died.shape)[repeat]
    return front + np.logaddexp(alive, died)


def mbgnbd_ll(r, alpha, a, b, x, t_x, T):
    """MBG/NBD log-likelihood of each customer (Batislam, Denizel & Filiztekin 2007): a customer
    may also drop out right after the first purchase, so with p ~ Beta(a, b) the history has
    probability (1 - p)^(x + 1) alive at T, p (1 - p)^x gone just after t_x (x = 0 included):

    L = Gamma(r + x) alpha^r / Gamma(r) * [B(a, b + x + 1) / B(a, b) / (alpha + T)^(r + x)
        + B(a + 1, b + x) / B(a, b) / (alpha + t_x)^(r + x)].
    """
    front = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    alive = special.betaln(a, b + x + 1) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    died = special.betaln(a + 1, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + t_x)
    return front + np.logaddexp(alive, died)


def pareto_ll(r, alpha, s, beta, x, t_x, T):
    """Pareto/NBD log-likelihood of each customer, in closed form (Fader & Hardie 2005, "A note
    on deriving the Pareto/NBD model and related expressions", eq. 22-24):

    L = Gamma(r + x) alpha^r beta^s / Gamma(r)
        * [1 / ((alpha + T)^(r + x) (beta + T)^s) + s / (r + s + x) * A0],

    A0 = F(t_x) - F(T), with, when alpha >= beta,
        F(t) = 2F1(r + s + x, s + 1; r + s + x + 1; (alpha - beta) / (alpha + t))
               / (alpha + t)^(r + s + x),
    and when alpha < beta,
        F(t) = 2F1(r + s + x, r + x; r + s + x + 1; (beta - alpha) / (beta + t))
               / (beta + t)^(r + s + x).
    With covariates alpha and beta differ by customer, so the branch is chosen row by row.
    """
    r, alpha, s, beta, x, t_x, T = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (r, alpha, s, beta, x, t_x, T))
    )
    c = r + s + x
    front = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    alpha_larger = alpha >= beta
    larger = np.where(alpha_larger, alpha, beta)
    smaller = np.where(alpha_larger, beta, alpha)
    second = np.where(alpha_larger, s + 1, r + x)

    def log_f(t):
        z = (larger - smaller) / (larger + t)
        return np.log(special.hyp2f1(c, second, c + 1, z)) - c * np.log(larger + t)

    at_t_x, at_T = log_f(t_x), log_f(T)
    with np.errstate(divide="ignore"):
        log_a0 = at_t_x + np.log1p(-np.exp(at_T - at_t_x))
    died = np.log(s) - np.log(c) + log_a0
    return front + np.logaddexp(alive, died)


def pareto_ll_quadrature(r, alpha, s, beta, x, t_x, T):
    """The same, with the death-time integral done numerically:

    L = Gamma(r + x) alpha^r beta^s / Gamma(r) * [1 / ((alpha + T)^(r + x) (beta + T)^s)
        + int_{t_x}^{T} s (alpha + tau)^-(r + x) (beta + tau)^-(s + 1) d tau]

    (alive at T; or dropped out at tau in (t_x, T), after which nothing is bought).
    """
    out = []
    for r_i, a_i, s_i, b_i, x_i, tx_i, T_i in np.broadcast(r, alpha, s, beta, x, t_x, T):
        front = (
            special.gammaln(r_i + x_i)
            - special.gammaln(r_i)
            + r_i * np.log(a_i)
            + s_i * np.log(b_i)
        )
        alive = (a_i + T_i) ** -(r_i + x_i) * (b_i + T_i) ** -s_i
        died, _ = integrate.quad(
            lambda tau: s_i * (a_i + tau) ** -(r_i + x_i) * (b_i + tau) ** -(s_i + 1),  # noqa: B023
            tx_i,
            T_i,
            epsabs=0.0,
            epsrel=1e-12,
            limit=200,
        )
        out.append(front + np.log(alive + died))
    return np.array(out)


LIKELIHOODS = {"bgnbd": bgnbd_ll, "mbgnbd": mbgnbd_ll, "paretonbd": pareto_ll}
MODELS = {
    "bgnbd": cp.BetaGeoModel,
    "mbgnbd": cp.ModifiedBetaGeoModel,
    "paretonbd": cp.ParetoNBDModel,
}
BASE_NAMES = {
    "bgnbd": ["r", "alpha", "a", "b"],
    "mbgnbd": ["r", "alpha", "a", "b"],
    "paretonbd": ["r", "alpha", "s", "beta"],
}


def individual(kind, base, gamma_p, gamma_d, gamma_s, z_p, z_d, z_s):
    """Each customer's parameters (the parameterisation of the issue and of CLVTools):
    alpha_i = alpha exp(-z_p . g_p); Pareto/NBD beta_i = beta exp(-z_d . g_d); BG/NBD and
    MBG/NBD a_i = a exp(z_d . g_d), b_i = b exp(z_d . g_d); a shared column enters both."""
    r, alpha, third, fourth = base
    purchase = z_p @ gamma_p + z_s @ gamma_s
    dropout = z_d @ gamma_d + z_s @ gamma_s
    alpha_i = alpha * np.exp(-purchase)
    if kind == "paretonbd":
        return r, alpha_i, third, fourth * np.exp(-dropout)
    spread = np.exp(dropout)
    return r, alpha_i, third * spread, fourth * spread


class Direct:
    """The log-likelihood of one model with covariates on one data set, in the coordinates
    theta = (log r, log alpha, log a|s, log b|beta, purchase, dropout, shared coefficients)."""

    def __init__(self, kind, summary, z_p, z_d, z_s):
        self.kind = kind
        self.x = summary["frequency"].to_numpy(float)
        self.t_x = summary["recency"].to_numpy(float)
        self.T = summary["T"].to_numpy(float)
        self.z_p, self.z_d, self.z_s = (np.asarray(m, dtype=float) for m in (z_p, z_d, z_s))
        self.k = (self.z_p.shape[1], self.z_d.shape[1], self.z_s.shape[1])
        self.n = len(self.x)

    def split(self, theta):
        k_p, k_d, _ = self.k
        base = np.exp(theta[:4])
        return base, theta[4 : 4 + k_p], theta[4 + k_p : 4 + k_p + k_d], theta[4 + k_p + k_d :]

    def params(self, theta):
        base, g_p, g_d, g_s = self.split(theta)
        return individual(self.kind, base, g_p, g_d, g_s, self.z_p, self.z_d, self.z_s)

    def per_customer(self, theta):
        return LIKELIHOODS[self.kind](*self.params(theta), self.x, self.t_x, self.T)

    def log_likelihood(self, theta):
        return float(np.sum(self.per_customer(theta)))

    def objective(self, theta, penalty=0.0):
        """Mean negative log-likelihood per customer plus penalty * sum of squared
        coefficients (the penalised objective the package documents)."""
        return -self.log_likelihood(theta) / self.n + penalty * float(np.sum(theta[4:] ** 2))


def numerical_gradient(f, theta, h=1e-5):
    out = np.empty(len(theta))
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = h
        out[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return out


def numerical_hessian(f, theta, h=1e-4):
    """Central differences of function values (four points per pair)."""
    k = len(theta)
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = h, h
            value = (
                f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)
            ) / (4 * h * h)
            out[i, j] = out[j, i] = value
    return out


def maximise(f, start, fixed=None):
    """Minimise ``f`` by BFGS on central-difference gradients, to a gradient below 1e-9 (of
    the mean log-likelihood), which puts the estimates within about 1e-8 of the optimum. With
    ``fixed = (j, value)`` coordinate j is held at value."""
    start = np.asarray(start, dtype=float)
    free = np.arange(len(start))
    if fixed is not None:
        free = free[free != fixed[0]]

    def full(v):
        theta = start.copy()
        if fixed is not None:
            theta[fixed[0]] = fixed[1]
        theta[free] = v
        return theta

    def g(v):
        return f(full(v))

    def grad(v):
        return numerical_gradient(g, v)

    v = optimize.minimize(g, start[free], jac=grad, method="BFGS", options={"gtol": 1e-9}).x
    # BFGS may stop early on "precision loss": finish with Newton steps on a finite-difference
    # Hessian of the gradient.
    for _ in range(4):
        gradient = grad(v)
        if np.max(np.abs(gradient)) < 1e-9:
            break
        hessian = np.column_stack(
            [(grad(v + e) - grad(v - e)) / 2e-4 for e in np.eye(len(v)) * 1e-4]
        )
        v = v - np.linalg.solve(0.5 * (hessian + hessian.T), gradient)
    assert np.max(np.abs(grad(v))) < 1e-8
    return full(v)


# ------------------------------------------------------------------------------------------
# Data: one categorical and one numeric covariate
# ------------------------------------------------------------------------------------------

TRUE_BASE = {
    "bgnbd": {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5},
    "mbgnbd": {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6},
    "paretonbd": {"r": 0.55, "alpha": 10.6, "s": 0.6, "beta": 11.7},
}
TRUE_COEFFICIENTS = {
    "purchase.channel[web]": 0.4,
    "purchase.channel[partner]": -0.3,
    "purchase.score": 0.2,
    "dropout.score": -0.5,
}
PURCHASE = ["channel[web]", "channel[partner]", "score"]
DROPOUT = ["score"]


def customers(n, seed):
    """``n`` customers: the raw covariate table (channel as a category, reference "store";
    score a number, about standard normal), its design columns (made here) and each
    customer's observation length T in weeks."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["store", "web", "partner"], size=n, p=[0.5, 0.3, 0.2])
    score = np.round(rng.normal(0.0, 1.0, size=n), 2)
    ids = pd.Index([f"K{i:05d}" for i in range(n)], name="customer_id")
    raw = pd.DataFrame(
        {
            "channel": pd.Categorical(channel, categories=["store", "web", "partner"]),
            "score": score,
        },
        index=ids,
    )
    design = pd.DataFrame(
        {
            "channel[web]": (channel == "web").astype(float),
            "channel[partner]": (channel == "partner").astype(float),
            "score": score,
        },
        index=ids,
    )
    T = np.round(rng.uniform(26.0, 78.0, size=n), 3)
    return raw, design, T


def simulated(kind, n, seed, coefficients=TRUE_COEFFICIENTS):
    raw, design, T = customers(n, seed)
    sim = simulate_with_covariates(
        kind, TRUE_BASE[kind], coefficients, design, T, time_unit="W", random_state=seed + 1
    )
    return sim[["frequency", "recency", "T"]], raw, design


@dataclass
class Case:
    kind: str
    summary: pd.DataFrame
    raw: pd.DataFrame
    design: pd.DataFrame
    model: object  # the package's fit
    direct: Direct
    theta: np.ndarray  # the direct fit
    names: list[str]


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request) -> Case:
    """Per model: 1,500 simulated customers, the package's fit, and the direct fit."""
    kind = request.param
    summary, raw, design = simulated(kind, 1_500, seed=11 + sorted(MODELS).index(kind))
    model = MODELS[kind](
        time_unit="W",
        purchase_covariates=["channel", "score"],
        dropout_covariates=["score"],
        reference_levels={"channel": "store"},
    ).fit(summary, covariates=raw)
    direct = Direct(kind, summary, design[PURCHASE], design[DROPOUT], np.empty((len(design), 0)))
    start = np.r_[np.log([0.3, 5.0, 1.0, 2.0]), np.zeros(len(PURCHASE) + len(DROPOUT))]
    theta = maximise(direct.objective, start)
    names = BASE_NAMES[kind] + [f"purchase.{c}" for c in PURCHASE]
    names += [f"dropout.{c}" for c in DROPOUT]
    return Case(kind, summary, raw, design, model, direct, theta, names)


def package_theta(model, names):
    """The package's estimates in the direct coordinates (log of the positive parameters)."""
    values = model.params_[names].to_numpy()
    return np.r_[np.log(values[:4]), values[4:]]


def natural(theta):
    return np.r_[np.exp(theta[:4]), theta[4:]]


# ------------------------------------------------------------------------------------------
# (1) The second implementation
# ------------------------------------------------------------------------------------------


def test_the_closed_form_pareto_likelihood_agrees_with_quadrature():
    """The hypergeometric closed form, on both branches, against the integral it solves."""
    rng = np.random.default_rng(5)
    n = 200
    x = rng.poisson(3.0, n).astype(float)
    T = rng.uniform(5.0, 80.0, n)
    t_x = np.where(x > 0, T * rng.uniform(0.0, 1.0, n), 0.0)
    alpha = rng.uniform(2.0, 30.0, n)
    beta = rng.uniform(2.0, 30.0, n)
    beta[:10] = alpha[:10]  # alpha == beta: the hypergeometric argument is 0
    closed = pareto_ll(0.55, alpha, 0.6, beta, x, t_x, T)
    numeric = pareto_ll_quadrature(0.55, alpha, 0.6, beta, x, t_x, T)
    assert (alpha > beta).sum() > 50 and (alpha < beta).sum() > 50
    np.testing.assert_allclose(closed, numeric, rtol=0, atol=1e-11)


def test_the_fit_is_the_direct_maximum(case):
    """Estimates and log-likelihood equal those of the direct maximisation (observed: 1.5e-8
    relative on the parameters, 8e-9 on the coefficients, 2e-12 on the log-likelihood)."""
    kind, model, direct, theta, names = case.kind, case.model, case.direct, case.theta, case.names
    assert model.converged_
    assert list(model.params_.index[:4]) == BASE_NAMES[kind]
    assert set(model.params_.index) == set(names)
    ours = natural(theta)
    theirs = model.params_[names].to_numpy()
    # summary(): a coefficient's Wald interval is estimate +- z se.
    table = model.summary(alpha=0.1).loc[names[4:]]
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(table["lower_90"], theirs[4:] - z * table["std_error"], rtol=1e-14)
    np.testing.assert_allclose(table["upper_90"], theirs[4:] + z * table["std_error"], rtol=1e-14)
    np.testing.assert_allclose(theirs[:4], ours[:4], rtol=1e-6, atol=0)
    np.testing.assert_allclose(theirs[4:], ours[4:], rtol=0, atol=1e-6)
    assert model.log_likelihood_ == pytest.approx(direct.log_likelihood(theta), abs=1e-6)
    # The package's log-likelihood is the direct one at the package's estimates.
    assert model.log_likelihood_ == pytest.approx(
        direct.log_likelihood(package_theta(model, names)), rel=1e-12, abs=0
    )
    if kind == "paretonbd":
        # Both branches of the closed form were needed, and the quadrature agrees on every row.
        _, alpha_i, _, beta_i = direct.params(theta)
        assert (alpha_i >= beta_i).sum() > 100 and (alpha_i < beta_i).sum() > 100
        params = direct.params(package_theta(model, names))
        np.testing.assert_allclose(
            pareto_ll_quadrature(*params, direct.x, direct.t_x, direct.T),
            direct.per_customer(package_theta(model, names)),
            rtol=0,
            atol=1e-10,
        )


def test_standard_errors_are_the_inverse_hessian_of_the_direct_likelihood(case):
    """Standard errors from the inverse of a finite-difference Hessian of the direct
    log-likelihood (delta method for the positive parameters; observed: 1e-5 relative)."""
    model, direct, theta, names = case.model, case.direct, case.theta, case.names
    hessian = numerical_hessian(lambda t: -direct.log_likelihood(t), theta)
    covariance = np.linalg.inv(hessian)
    scale = np.r_[np.exp(theta[:4]), np.ones(len(theta) - 4)]
    se = np.sqrt(np.diag(covariance)) * scale
    np.testing.assert_allclose(model.standard_errors_[names].to_numpy(), se, rtol=1e-4)
    # The whole covariance, as correlations.
    correlation = covariance / np.outer(se / scale, se / scale)
    theirs = model.covariance_.loc[names, names].to_numpy()
    theirs = theirs / np.outer(np.sqrt(np.diag(theirs)), np.sqrt(np.diag(theirs)))
    np.testing.assert_allclose(theirs, correlation, rtol=0, atol=1e-4)


def test_the_analytic_gradient_is_the_direct_likelihoods(case):
    """The package's gradient (wrt the natural parameters and coefficients), away from the
    maximum, against central differences of the direct log-likelihood."""
    model, direct, theta, names = case.model, case.direct, case.theta, case.names
    columns, weights = model._fit_data_
    negll, likelihood_columns = model._fitted_likelihood(list(columns), weights)
    order = list(model.params_.index)
    point = natural(theta) * np.r_[1.1, 0.9, 1.2, 0.8, np.ones(len(theta) - 4)]
    point[4:] += np.linspace(-0.2, 0.3, len(theta) - 4)
    at = pd.Series(point, index=names)[order].to_numpy()
    value, gradient = negll(at, *likelihood_columns, weights)

    def minus_ll(p):
        return -direct.log_likelihood(np.r_[np.log(p[:4]), p[4:]])

    assert value == pytest.approx(minus_ll(point), rel=1e-12)
    expected = numerical_gradient(minus_ll, point, h=1e-6)
    np.testing.assert_allclose(
        pd.Series(gradient, index=order)[names].to_numpy(), expected, rtol=1e-6, atol=2e-5
    )


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_shared_coefficient_is_the_direct_maximum(kind):
    """A shared column has one coefficient in both processes (with each one's sign)."""
    coefficients = {
        "purchase.channel[web]": 0.4,
        "purchase.channel[partner]": -0.3,
        "shared.score": 0.3,
    }
    summary, raw, design = simulated(kind, 800, seed=31, coefficients=coefficients)
    model = MODELS[kind](
        time_unit="W",
        purchase_covariates=["channel"],
        shared_covariates=["score"],
        reference_levels={"channel": "store"},
    ).fit(summary, covariates=raw)
    direct = Direct(
        kind, summary, design[PURCHASE[:2]], np.empty((len(design), 0)), design[["score"]]
    )
    theta = maximise(direct.objective, np.r_[np.log([0.3, 5.0, 1.0, 2.0]), 0.0, 0.0, 0.0])
    names = BASE_NAMES[kind] + ["purchase.channel[web]", "purchase.channel[partner]"]
    names += ["shared.score"]
    assert set(model.params_.index) == set(names)
    theirs = model.params_[names].to_numpy()
    np.testing.assert_allclose(theirs[:4], np.exp(theta[:4]), rtol=1e-6, atol=0)
    np.testing.assert_allclose(theirs[4:], theta[4:], rtol=0, atol=1e-6)
    assert model.log_likelihood_ == pytest.approx(direct.log_likelihood(theta), abs=1e-6)
    # A profile's parameters and their covariance, the shared coefficient in both processes.
    profile = model.profile_model({"channel": "partner", "score": -1.2})
    values, covariance = profile_covariance(
        kind, model, names, np.array([[0.0, 1.0]]), np.zeros((1, 0)), np.array([[-1.2]])
    )
    np.testing.assert_allclose(profile.params_.to_numpy(), values, rtol=1e-13)
    np.testing.assert_allclose(profile.covariance_.to_numpy(), covariance, rtol=1e-7, atol=1e-12)


def test_the_same_fit_however_the_covariates_arrive(case):
    """Joined by fit(covariates=), already in the summary, or as weights of distinct rows."""
    settings = {
        "time_unit": "W",
        "purchase_covariates": ["channel", "score"],
        "dropout_covariates": ["score"],
        "reference_levels": {"channel": "store"},
    }
    cls = MODELS[case.kind]
    joined = cp.attach_covariates(case.summary, case.raw)
    assert cls(**settings).fit(joined).params_.equals(case.model.params_)
    # Each customer twice, or once with weight 2: the same estimates, half the variance of
    # the fit on the customers once.
    half = joined.iloc[:500]
    twice = pd.concat([half, half.set_axis([f"{c}-2" for c in half.index])])
    twice.attrs = half.attrs
    weighted = half.assign(customers=2.0)
    by_rows = cls(**settings).fit(twice)
    by_weights = cls(**settings).fit(weighted, weights="customers")
    once = cls(**settings).fit(half)
    np.testing.assert_allclose(by_weights.params_, by_rows.params_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(by_weights.params_, once.params_, rtol=1e-6, atol=1e-6)
    assert by_weights.log_likelihood_ == pytest.approx(2 * once.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(
        by_weights.standard_errors_ * np.sqrt(2), once.standard_errors_, rtol=1e-4
    )


def test_days_and_weeks_give_the_same_coefficients(case):
    """The same customers in days: alpha (and beta) 7 times larger, r, a|s, b and every
    coefficient the same; ln L lower by sum(x) ln 7; predictions at 7t equal."""
    days = case.summary.assign(recency=case.summary["recency"] * 7, T=case.summary["T"] * 7)
    days.attrs["time_unit"] = "D"
    model = MODELS[case.kind](
        purchase_covariates=["channel", "score"],
        dropout_covariates=["score"],
        reference_levels={"channel": "store"},
    ).fit(days, covariates=case.raw)
    assert model.time_unit_ == "D"
    ratio = (model.params_ / case.model.params_)[case.names]
    scaled = {"alpha", "beta"}
    expected = [7.0 if name in scaled else 1.0 for name in case.names]
    np.testing.assert_allclose(ratio, expected, rtol=1e-6)
    shift = case.summary["frequency"].sum() * np.log(7)
    assert case.model.log_likelihood_ - model.log_likelihood_ == pytest.approx(shift, rel=1e-9)
    some = cp.attach_covariates(days, case.raw).iloc[:50]
    weekly = cp.attach_covariates(case.summary, case.raw).iloc[:50]
    np.testing.assert_allclose(
        model.expected_purchases(70.0, some), case.model.expected_purchases(10.0, weekly), rtol=1e-6
    )


# ------------------------------------------------------------------------------------------
# (2) Covariates at 0 are the plain model
# ------------------------------------------------------------------------------------------


def test_coefficients_at_zero_give_the_plain_likelihood(case):
    model, summary = case.model, case.summary
    plain = MODELS[case.kind](time_unit="W").fit(summary)
    # The null model of the fit is the plain model, fitted separately here.
    assert model.null_log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(model.null_params_, plain.params_, rtol=1e-10)

    columns, weights = model._fit_data_
    covariate_negll, covariate_columns = model._fitted_likelihood(list(columns), weights)
    plain_negll, plain_columns = plain._fitted_likelihood(
        list(plain._fit_data_[0]), plain._fit_data_[1]
    )
    k = len(model.params_) - 4
    at_plain_fit = np.r_[plain.params_.to_numpy(), np.zeros(k)]
    value = covariate_negll(at_plain_fit, *covariate_columns, weights)[0]
    assert -value == pytest.approx(plain.log_likelihood_, rel=1e-13)
    # Anywhere, not only at the plain fit; and the direct likelihood agrees.
    for base in ([0.3, 4.0, 0.7, 3.0], [1.2, 15.0, 2.5, 0.9]):
        with_covariates = covariate_negll(np.r_[base, np.zeros(k)], *covariate_columns, weights)
        without = plain_negll(np.asarray(base, float), *plain_columns, plain._fit_data_[1])
        assert with_covariates[0] == pytest.approx(without[0], rel=1e-13)
        np.testing.assert_allclose(with_covariates[1][:4], without[1], rtol=1e-11)
        direct = -case.direct.log_likelihood(np.r_[np.log(base), np.zeros(k)])
        assert with_covariates[0] == pytest.approx(direct, rel=1e-12)


def test_a_customer_with_covariates_at_zero_is_predicted_by_the_plain_model(case):
    model, kind = case.model, case.kind
    base = model.params_[BASE_NAMES[kind]]
    profile = model.profile_model({"channel": "store", "score": 0.0})
    np.testing.assert_array_equal(profile.params_.to_numpy(), base.to_numpy())
    plain = MODELS[kind].from_params(base.to_dict(), time_unit="W")
    people = pd.DataFrame(
        {
            "frequency": [0, 2, 7, 1],
            "recency": [0.0, 10.5, 40.0, 3.0],
            "T": [30.0, 52.0, 60.0, 70.0],
            "channel": pd.Categorical(["store", "store", "web", "partner"]),
            "score": [0.0, 0.0, 1.5, -0.8],
        },
        index=pd.Index(["A", "B", "C", "D"], name="customer_id"),
    )
    people.attrs["time_unit"] = "W"
    zero = people.iloc[:2]
    np.testing.assert_allclose(
        model.probability_alive(zero).to_numpy(),
        plain.probability_alive(zero[["frequency", "recency", "T"]]).to_numpy(),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        model.expected_purchases(26.0, zero).to_numpy(),
        plain.expected_purchases(26.0, zero[["frequency", "recency", "T"]]).to_numpy(),
        rtol=1e-14,
    )
    # The others, by the parameterisation written here.
    g = model.params_
    for name, row in people.iloc[2:].iterrows():
        z_p = np.array([[row["channel"] == "web", row["channel"] == "partner", row["score"]]])
        own = individual(
            kind,
            base.to_numpy(),
            g[[f"purchase.{c}" for c in PURCHASE]].to_numpy(),
            g[["dropout.score"]].to_numpy(),
            np.zeros(0),
            z_p.astype(float),
            np.array([[row["score"]]]),
            np.zeros((1, 0)),
        )
        own = [float(np.asarray(v).ravel()[0]) for v in own]
        one = MODELS[kind].from_params(dict(zip(BASE_NAMES[kind], own, strict=True)), time_unit="W")
        history = people.loc[[name], ["frequency", "recency", "T"]]
        assert model.probability_alive(people.loc[[name]]).iloc[0] == pytest.approx(
            one.probability_alive(history).iloc[0], rel=1e-12
        )
        assert model.expected_purchases(26.0, people.loc[[name]]).iloc[0] == pytest.approx(
            one.expected_purchases(26.0, history).iloc[0], rel=1e-12
        )


def test_a_covariate_of_zeros_is_refused(case):
    raw = case.raw.assign(nothing=0.0)
    with pytest.raises(ClvDataError, match="nothing"):
        MODELS[case.kind](purchase_covariates=["channel", "nothing"]).fit(
            case.summary, covariates=raw
        )


def profile_covariance(kind, model, names, z_p, z_d, z_s):
    """The covariance of one profile's parameters by the delta method, with the Jacobian of
    the parameterisation written here taken by central differences."""
    theta = model.params_[names].to_numpy()
    k_p, k_d = z_p.shape[1], z_d.shape[1]

    def params(t):
        own = individual(
            kind,
            t[:4],
            t[4 : 4 + k_p],
            t[4 + k_p : 4 + k_p + k_d],
            t[4 + k_p + k_d :],
            z_p,
            z_d,
            z_s,
        )
        return np.array([float(np.ravel(v)[0]) for v in own])

    jacobian = np.column_stack(
        [(params(theta + e) - params(theta - e)) / 2e-6 for e in np.eye(len(theta)) * 1e-6]
    )
    covariance = jacobian @ model.covariance_.loc[names, names].to_numpy() @ jacobian.T
    return params(theta), covariance


def test_a_profile_inherits_the_covariance_by_the_delta_method(case):
    model, kind = case.model, case.kind
    profile = model.profile_model({"channel": "web", "score": 1.5})
    values, covariance = profile_covariance(
        kind, model, case.names, np.array([[1.0, 0.0, 1.5]]), np.array([[1.5]]), np.zeros((1, 0))
    )
    np.testing.assert_allclose(profile.params_.to_numpy(), values, rtol=1e-13)
    np.testing.assert_allclose(profile.covariance_.to_numpy(), covariance, rtol=1e-7, atol=1e-12)


# ------------------------------------------------------------------------------------------
# (3) Recovery
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    """The BG/NBD with the truth's covariates, fitted on the shipped data set."""
    truth = cp.datasets.load_covariates_truth()
    model = cp.BetaGeoModel(
        purchase_covariates=["channel", "loyalty", "age_decades"],
        dropout_covariates=["loyalty"],
        reference_levels={"channel": truth["covariates"]["channel"]["reference"]},
    ).fit(cp.datasets.load_covariates_summary(), covariates=cp.datasets.load_covariates_customers())
    return truth, model


def test_the_shipped_data_set_gives_its_truth_back(shipped):
    truth, model = shipped
    assert model.converged_ and model.time_unit_ == truth["time_unit"]
    table = model.summary(alpha=0.01)
    expected = {**truth["params"]}
    expected.update({name: truth["coefficients"].get(name, 0.0) for name in table.index[4:]})
    assert set(truth["coefficients"]) <= set(table.index)
    expected = pd.Series(expected)[table.index]
    inside = (table["lower_99"] < expected) & (expected < table["upper_99"])
    assert inside.all(), table.assign(truth=expected)[~inside]
    # Every real effect is seen: its 99% interval excludes 0.
    real = table.loc[list(truth["coefficients"])]
    assert ((real["lower_99"] > 0) | (real["upper_99"] < 0)).all(), real


def test_a_pareto_dropout_coefficient_is_recovered():
    """5,000 simulated Pareto/NBD customers whose dropout depends on a 0/1 covariate."""
    rng = np.random.default_rng(41)
    n = 5_000
    ids = pd.Index([f"P{i:05d}" for i in range(n)], name="customer_id")
    design = pd.DataFrame(
        {
            "loyalty": (rng.uniform(size=n) < 0.35).astype(float),
            "score": np.round(rng.normal(size=n), 2),
        },
        index=ids,
    )
    truth = {"purchase.score": 0.25, "dropout.loyalty": -0.9}
    sim = simulate_with_covariates(
        "paretonbd", TRUE_BASE["paretonbd"], truth, design, rng.uniform(26, 78, n), random_state=42
    )
    model = cp.ParetoNBDModel(
        time_unit="W", purchase_covariates=["score"], dropout_covariates=["loyalty"]
    ).fit(sim)
    table = model.summary(alpha=0.01)
    row = table.loc["dropout.loyalty"]
    assert row["lower_99"] < truth["dropout.loyalty"] < row["upper_99"], row
    assert row["upper_99"] < 0  # a real effect, seen
    row = table.loc["purchase.score"]
    assert row["lower_99"] < truth["purchase.score"] < row["upper_99"], row
    # The profile likelihood agrees: the truth is inside its 99% interval too.
    statistic = profile_likelihood_ratio(model, {"dropout.loyalty": truth["dropout.loyalty"]})
    assert statistic.iloc[0] < stats.chi2.ppf(0.99, 1)


# ------------------------------------------------------------------------------------------
# (4) The likelihood-ratio test
# ------------------------------------------------------------------------------------------


def test_the_lr_statistic_is_twice_the_gain_over_a_separate_plain_fit(case):
    test = case.model.likelihood_ratio_test()
    plain = MODELS[case.kind](time_unit="W").fit(case.summary)
    assert test["df"] == 4
    assert test["statistic"] == pytest.approx(
        2 * (case.model.log_likelihood_ - plain.log_likelihood_), rel=1e-10
    )
    assert test["p_value"] == pytest.approx(stats.chi2.sf(test["statistic"], 4), rel=1e-12)
    assert test["log_likelihood"] == case.model.log_likelihood_


@pytest.mark.parametrize("seed", [101, 102, 103, 104, 105])
def test_the_lr_test_does_not_reject_without_effects(seed):
    """Data whose coefficients are all 0: the p-value is not small (each of 5 data sets has
    a 1 in 1,000 chance of p < 0.001 under the null). Its distribution is the slow study's."""
    zero = dict.fromkeys(TRUE_COEFFICIENTS, 0.0)
    summary, raw, _ = simulated("bgnbd", 1_000, seed=seed, coefficients=zero)
    model = cp.BetaGeoModel(
        time_unit="W",
        purchase_covariates=["channel", "score"],
        dropout_covariates=["score"],
        reference_levels={"channel": "store"},
    ).fit(summary, covariates=raw)
    assert model.likelihood_ratio_test()["p_value"] > 1e-3


def test_the_lr_test_rejects_on_the_shipped_data_set(shipped):
    _, model = shipped
    test = model.likelihood_ratio_test()
    assert test["df"] == 5
    assert test["p_value"] < 1e-6


# ------------------------------------------------------------------------------------------
# (5) The penalty on the coefficients
# ------------------------------------------------------------------------------------------


def penalised_fit(case, penalty):
    return MODELS[case.kind](
        time_unit="W",
        purchase_covariates=["channel", "score"],
        dropout_covariates=["score"],
        reference_levels={"channel": "store"},
        covariate_penalty=penalty,
    ).fit(case.summary, covariates=case.raw)


def test_the_penalty_shrinks_the_coefficients(case):
    penalties = [0.0, 1e-3, 1e-2, 0.1, 1.0]
    fits = [penalised_fit(case, c) for c in penalties]
    coefficients = np.array([m.params_[case.names[4:]].to_numpy() for m in fits])
    assert fits[0].params_.equals(case.model.params_)
    norms = np.sum(coefficients**2, axis=1)
    # The penalised optimum's sum of squares decreases strictly as the penalty grows, and
    # every coefficient ends much nearer 0 than it started.
    assert np.all(np.diff(norms) < 0), norms
    assert np.all(np.abs(coefficients[-1]) < 0.25 * np.abs(coefficients[0])), coefficients
    # The population parameters are not penalised: a large penalty leaves a fit near the plain
    # one, not one with shrunken r, alpha...
    plain = case.model.null_params_
    np.testing.assert_allclose(fits[-1].params_[BASE_NAMES[case.kind]], plain, rtol=0.2)
    for fit in fits[1:]:
        # log_likelihood_ is the (unpenalised) log-likelihood at the penalised estimates,
        # below the maximum.
        theta = package_theta(fit, case.names)
        assert fit.log_likelihood_ == pytest.approx(case.direct.log_likelihood(theta), rel=1e-12)
        assert fit.log_likelihood_ < case.model.log_likelihood_
        with pytest.raises(ClvDataError, match="penalised"):
            fit.likelihood_ratio_test()


def test_the_penalised_fit_is_the_direct_maximum_of_the_penalised_objective(case):
    """mean log-likelihood per customer - penalty * sum of squared coefficients, maximised here."""
    penalty = 0.02
    model = penalised_fit(case, penalty)
    theta = maximise(lambda t: case.direct.objective(t, penalty), case.theta)
    theirs = model.params_[case.names].to_numpy()
    np.testing.assert_allclose(theirs[:4], np.exp(theta[:4]), rtol=1e-6, atol=0)
    np.testing.assert_allclose(theirs[4:], theta[4:], rtol=0, atol=1e-6)
    # Not the unpenalised estimates: the penalty did something measurable.
    assert np.max(np.abs(theirs[4:] - case.theta[4:])) > 1e-2


def test_profile_intervals_of_a_penalised_fit_are_refused_clearly(case):
    model = penalised_fit(case, 0.02)
    with pytest.raises(ClvDataError, match=r"covariate_penalty=0\.02"):
        model.summary(method="profile")


# ------------------------------------------------------------------------------------------
# (6) Profile intervals of the coefficients
# ------------------------------------------------------------------------------------------


def test_profile_intervals_of_the_coefficients(case):
    model, names = case.model, case.names
    table = model.summary(method="profile").loc[names[4:]]
    wald = model.summary().loc[names[4:]]
    threshold = stats.chi2.ppf(0.95, 1)
    assert threshold == pytest.approx(3.841459, abs=1e-6)
    for bound in ("lower_95", "upper_95"):
        statistic = profile_likelihood_ratio(model, table[bound])
        np.testing.assert_allclose(statistic.to_numpy(), threshold, rtol=0, atol=1e-6)
    assert ((table["lower_95"] < wald["estimate"]) & (wald["estimate"] < table["upper_95"])).all()

    # The statistic at the bounds of one coefficient, by a constrained maximisation of the
    # direct likelihood.
    j = names.index("dropout.score")
    best = case.direct.log_likelihood(case.theta)
    for bound in table.loc["dropout.score", ["lower_95", "upper_95"]]:
        theta = maximise(case.direct.objective, case.theta, fixed=(j, bound))
        statistic = 2 * (best - case.direct.log_likelihood(theta))
        assert statistic == pytest.approx(threshold, abs=1e-6)


# ------------------------------------------------------------------------------------------
# Slow: coverage and the LR test's size over many data sets (benchmarks/covariate_recovery.py
# has the full study)
# ------------------------------------------------------------------------------------------

COVERAGE_REPETITIONS = 200


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bgnbd", "paretonbd"])
def test_coverage_and_size_of_the_lr_test(kind):
    """Over 200 data sets of 1,500 customers: every coefficient's 95% Wald interval covers the
    truth in 95% of them, and the LR test on data without effects rejects at 5% in 5% of them
    (each within 4 binomial standard errors, 0.062 and 0.062)."""
    # Deselected by default (pyproject: -m 'not slow'); run with `pytest -m slow`.
    zero = dict.fromkeys(TRUE_COEFFICIENTS, 0.0)
    names = list(TRUE_COEFFICIENTS)
    truth = pd.Series(TRUE_COEFFICIENTS)
    inside, rejected = [], []
    for rep in range(COVERAGE_REPETITIONS):
        # simulated() uses seed and seed + 1: the null data set takes seed + 5 and seed + 6.
        seed = 10_000 * (1 + sorted(MODELS).index(kind)) + 10 * rep
        settings = {
            "time_unit": "W",
            "purchase_covariates": ["channel", "score"],
            "dropout_covariates": ["score"],
            "reference_levels": {"channel": "store"},
        }
        summary, raw, _ = simulated(kind, 1_500, seed=seed)
        model = MODELS[kind](**settings).fit(summary, covariates=raw)
        table = model.summary().loc[names]
        hit = (table["lower_95"] < truth) & (truth < table["upper_95"])
        inside.append(hit & model.converged_)
        summary, raw, _ = simulated(kind, 1_500, seed=seed + 5, coefficients=zero)
        null = MODELS[kind](**settings).fit(summary, covariates=raw)
        rejected.append(null.likelihood_ratio_test()["p_value"] < 0.05)
    coverage = pd.DataFrame(inside).mean()
    se = np.sqrt(0.95 * 0.05 / COVERAGE_REPETITIONS)
    assert (np.abs(coverage - 0.95) <= 4 * se).all(), coverage.to_dict()
    assert abs(np.mean(rejected) - 0.05) <= 4 * se, np.mean(rejected)


def test_a_coefficient_run_off_to_the_edge_still_gets_the_bound_the_data_set():
    """Eight customers of a rare level who never bought again: the estimate of their
    coefficient runs off towards -30 (the data do not bound it from below), but the likelihood
    does bound it from above. The check is independent of the profile search: refitting with
    those customers moved to the reference level is the profile at coefficient 0."""
    from clvpredict.data import datasets

    summary = cp.attach_covariates(
        datasets.load_covariates_summary(), datasets.load_covariates_customers()
    )
    summary["channel"] = summary["channel"].astype(str)
    rare = summary.index[summary["frequency"] == 0][:8]
    summary.loc[rare, "channel"] = "kiosk"
    settings = {"purchase_covariates": ["channel"], "reference_levels": {"channel": "store"}}
    with pytest.warns(cp.ConvergenceWarning):
        model = cp.BetaGeoModel(**settings).fit(summary)
    name = "purchase.channel[kiosk]"
    assert model.params_[name] < -20
    relabelled = summary.assign(channel=summary["channel"].replace("kiosk", "store"))
    at_zero = cp.BetaGeoModel(**settings).fit(relabelled)
    statistic = 2 * (model.log_likelihood_ - at_zero.log_likelihood_)
    assert statistic > stats.chi2.ppf(0.95, 1)  # 0 is outside the 95% interval
    assert profile_likelihood_ratio(model, {name: 0.0})[name] == pytest.approx(statistic, rel=1e-6)

    with warnings.catch_warnings():
        # Its Wald interval is honest (+-800,000) and computed without numpy's warnings.
        warnings.simplefilter("error", RuntimeWarning)
        wald = model.summary().loc[name]
    assert wald["upper_95"] - wald["lower_95"] > 1e5
    bounds = model.summary(method="profile").loc[name]
    assert bounds["lower_95"] == -np.inf
    assert -5 < bounds["upper_95"] < 0
    assert profile_likelihood_ratio(model, {name: bounds["upper_95"]})[name] == pytest.approx(
        stats.chi2.ppf(0.95, 1), rel=1e-6
    )


@pytest.mark.parametrize("process", ["purchase_covariates", "dropout_covariates"])
def test_a_covariate_on_a_large_scale_is_the_same_fit_in_other_units(process):
    """Age in tenths of a year instead of decades (x 100): the optimiser's trial steps of its
    coefficient put some rows' parameters beyond floating point (the Pareto/NBD's integral then
    failed inside numpy); the fit must be the one in the original units, coefficient / 100."""
    from clvpredict.data import datasets

    summary = cp.attach_covariates(
        datasets.load_covariates_summary(), datasets.load_covariates_customers()
    )
    summary["age_centiyears"] = 100 * summary["age_decades"]
    with pytest.warns(UserWarning, match="age_centiyears"):
        scaled = cp.ParetoNBDModel(**{process: ["age_centiyears"]}).fit(summary)
    plain = cp.ParetoNBDModel(**{process: ["age_decades"]}).fit(summary)
    assert scaled.converged_
    assert scaled.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(
        scaled.params_.to_numpy() * [1, 1, 1, 1, 100], plain.params_.to_numpy(), rtol=1e-6
    )
