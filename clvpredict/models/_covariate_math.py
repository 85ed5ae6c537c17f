"""How time-invariant customer covariates enter the purchase models' parameters.

Each customer ``i`` has a row ``z_i`` of covariates for the purchase process and a row
``w_i`` for the dropout process (dummies and numbers, from :mod:`clvpredict.data.covariates`).
The population parameters become individual ones:

* purchase process, every model: ``alpha_i = alpha * exp(-gamma_purchase . z_i)``. The purchase
  rate is ``lambda ~ Gamma(r, alpha_i)``, so its mean ``r / alpha_i`` grows by the factor
  ``exp(gamma_purchase . z_i)``: a positive coefficient means more purchases.
* dropout process, Pareto/NBD: ``beta_i = beta * exp(-gamma_dropout . w_i)``. The dropout rate is
  ``mu ~ Gamma(s, beta_i)``, so a positive coefficient means a higher dropout rate, a shorter
  expected lifetime (Fader & Hardie 2007, "Incorporating time-invariant covariates into the
  Pareto/NBD and BG/NBD models", brucehardie.com note 019).
* dropout process, BG/NBD and MBG/NBD: ``a_i = a * exp(gamma_dropout . w_i)`` and
  ``b_i = b * exp(gamma_dropout . w_i)``, as CLVTools' static-covariate BG/NBD has it. The dropout
  probability is ``p ~ Beta(a_i, b_i)``, whose mean ``a / (a + b)`` the covariate leaves alone; it
  moves the concentration ``a_i + b_i`` of customers around that mean, and so the share of
  customers who drop out early (a positive coefficient means a tighter spread, fewer customers
  with a dropout probability near 0 or near 1).

A customer whose covariates are all 0 has the parameters of the model without covariates. A
covariate "shared" between the processes has one coefficient that enters both formulas (with
each formula's own sign), as CLVTools' constrained covariates do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Per model kind: the position, in the parameter tuple, of the parameter each process's
#: covariates scale, and the sign of the exponent (``param_i = param * exp(sign * gamma . z)``).
PURCHASE_SCALED = {"bgnbd": (1,), "mbgnbd": (1,), "paretonbd": (1,)}
DROPOUT_SCALED = {"bgnbd": (2, 3), "mbgnbd": (2, 3), "paretonbd": (3,)}
PURCHASE_SIGN = {"bgnbd": -1.0, "mbgnbd": -1.0, "paretonbd": -1.0}
DROPOUT_SIGN = {"bgnbd": 1.0, "mbgnbd": 1.0, "paretonbd": -1.0}


def individual_parameters(
    kind: str,
    base: tuple[float, ...] | np.ndarray,
    gamma_purchase: np.ndarray,
    gamma_dropout: np.ndarray,
    z_purchase: np.ndarray,
    z_dropout: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Each customer's model parameters, in the model's parameter order.

    Parameters
    ----------
    kind : {"bgnbd", "mbgnbd", "paretonbd"}
        The model (its registry name).
    base : tuple of 4 floats
        The population parameters ``(r, alpha, a, b)`` or ``(r, alpha, s, beta)``: those of a
        customer whose covariates are all 0 (``alpha``, ``beta`` in the model's time unit).
    gamma_purchase, gamma_dropout : arrays of shape (k_p,), (k_d,)
        Coefficients of the purchase and the dropout covariates (no unit: per unit of the
        covariate).
    z_purchase, z_dropout : arrays of shape (n, k_p), (n, k_d)
        The customers' covariates for each process (k may be 0).

    Returns
    -------
    tuple of 4 arrays of shape (n,)
        The parameters of each customer; the unscaled ones repeated.
    """
    z_purchase = np.asarray(z_purchase, dtype=float)
    z_dropout = np.asarray(z_dropout, dtype=float)
    n = z_purchase.shape[0]
    purchase = z_purchase @ np.asarray(gamma_purchase, dtype=float)
    dropout = z_dropout @ np.asarray(gamma_dropout, dtype=float)
    params = scaled_parameters(kind, base, purchase, dropout)
    return tuple(np.broadcast_to(p, (n,)).astype(float) for p in params)


def scaled_parameters(kind: str, base: Any, purchase_index: Any, dropout_index: Any) -> list[Any]:
    """The model's 4 parameters with the scaled ones multiplied by
    ``exp(sign * index)``: ``purchase_index = gamma_purchase . z`` and ``dropout_index =
    gamma_dropout . w`` (arrays of one value per row, or numbers). The parameters no covariate
    scales stay the numbers of ``base``."""
    params: list[Any] = [float(v) for v in base]
    for position in PURCHASE_SCALED[kind]:
        params[position] = params[position] * np.exp(PURCHASE_SIGN[kind] * purchase_index)
    for position in DROPOUT_SCALED[kind]:
        params[position] = params[position] * np.exp(DROPOUT_SIGN[kind] * dropout_index)
    return params


def covariate_negll_and_gradient(
    theta: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    z_purchase: np.ndarray,
    z_dropout: np.ndarray,
    z_shared: np.ndarray,
    weights: np.ndarray,
    *,
    kind: str,
    derivatives: Callable[..., tuple[np.ndarray, tuple[np.ndarray, ...]]],
) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood of a model with covariates, and its analytic gradient.

    Parameters
    ----------
    theta : array
        The 4 population parameters, then the coefficients of the purchase covariates, of the
        dropout covariates and of the shared covariates (in the columns' order).
    x, t_x, T : arrays of shape (n,)
        Repeat purchases, recency and age of each row, in the model's time unit.
    z_purchase, z_dropout, z_shared : arrays of shape (n, k)
        The rows' covariates of each kind (k may be 0).
    weights : array of shape (n,)
        Customers per row.
    kind : str
        The model (see :data:`PURCHASE_SCALED`).
    derivatives : callable
        ``(r, alpha, p3, p4, x, t_x, T) -> (ll, (d_r, d_alpha, d_p3, d_p4))``: the model's
        individual log-likelihoods and their derivatives wrt its 4 parameters, which may be
        arrays of one value per row.

    Returns
    -------
    float, ndarray
        The negative log-likelihood and its gradient wrt ``theta``.

    Notes
    -----
    With ``param_i = param * exp(sign * e_i)`` and ``e_i`` the covariate index of the row,
    ``d ll_i / d param = d_i * param_i / param`` and ``d ll_i / d e_i = sign * d_i * param_i``;
    a coefficient's derivative is the weighted sum of the latter times its column.
    """
    k_p, k_d = z_purchase.shape[1], z_dropout.shape[1]
    base = theta[:4]
    g_p, g_d, g_s = theta[4 : 4 + k_p], theta[4 + k_p : 4 + k_p + k_d], theta[4 + k_p + k_d :]
    index_p = z_purchase @ g_p + z_shared @ g_s
    index_d = z_dropout @ g_d + z_shared @ g_s
    params = scaled_parameters(kind, base, index_p, index_d)
    if not all(np.all(np.isfinite(v) & (np.asarray(v) > 0)) for v in params):
        # A trial step put exp(index) beyond floating point for some row (a covariate on a
        # large scale makes small steps of its coefficient huge): no likelihood there, and
        # the line search steps back.
        return np.inf, np.zeros_like(theta)
    ll, d = derivatives(*params, x, t_x, T)
    grad_base = np.array([weights @ np.broadcast_to(d_k, ll.shape) for d_k in d])
    slope_p = np.zeros_like(ll)
    slope_d = np.zeros_like(ll)
    for position in PURCHASE_SCALED[kind]:
        scaled = d[position] * params[position]
        grad_base[position] = (weights @ scaled) / base[position]
        slope_p += PURCHASE_SIGN[kind] * scaled
    for position in DROPOUT_SCALED[kind]:
        scaled = d[position] * params[position]
        grad_base[position] = (weights @ scaled) / base[position]
        slope_d += DROPOUT_SIGN[kind] * scaled
    grad = np.concatenate(
        [
            grad_base,
            z_purchase.T @ (weights * slope_p),
            z_dropout.T @ (weights * slope_d),
            z_shared.T @ (weights * (slope_p + slope_d)),
        ]
    )
    return -float(weights @ ll), -grad
