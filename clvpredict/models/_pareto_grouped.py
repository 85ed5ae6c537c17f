"""The Pareto/NBD likelihood for fitting: value, gradient and Hessian, customers grouped.

The individual likelihood (see :mod:`clvpredict.models.pareto_nbd`) is, up to the factor
``Gamma(r+x) alpha^r beta^s / Gamma(r)``,

``A + s J``,  ``A = (alpha+T)^-(r+x) (beta+T)^-s``,  ``J = integral_{t_x}^T f(u) du``,
``f(u) = (alpha+u)^-(r+x) (beta+u)^-(s+1)``.

A per-customer evaluation of ``J`` (a quadrature, or the papers' hypergeometric functions: scipy's
``hyp2f1`` alone takes 0.45 s per million calls, with no parameter derivatives) costs tens of
integrand evaluations per customer. But ``f`` depends on the customer only through ``x``, so for
all customers with the same frequency ``J = C(t_x) - C(T)`` with one cumulative integral
``C(y) = integral_y^{Y} f``, ``Y`` the group's largest end point. ``C`` is needed only at the end
points of the group's customers: sorted, they cut ``[0, Y]`` into pieces, and ``C`` at each end
point is the sum of the pieces to its right. A large group has so many end points that almost every
piece is short compared with the scale on which ``f`` varies, and there the corrected trapezoidal
rule (cubic Hermite: values and derivatives at both ends, error ``h^5 f''''/720``) is exact to
rounding; the derivatives come free with the values (``f' = f psi'``). The few long pieces get
Gauss-Legendre rules in ``w = ln(1 + (u - a)/c)`` as in the per-customer quadrature, with as few
nodes as their width allows. So a group costs about one integrand evaluation per end point.

Virtual customers. A frequency with many customers is not even evaluated at their end points. A
customer's log-likelihood is an analytic function of ``v = t_x / T`` in [0, 1] and of ``T`` (its
nearest singularities are the poles at ``t_x = -alpha`` and ``T = -alpha, -beta``), so on a panel
of ``(v, T)`` it equals its tensor Chebyshev interpolant at 17 x 17 Lobatto points to rounding, and
the group's sum ``sum_i w_i l(v_i, T_i)`` equals ``sum_k W_k l(node_k)`` with weights
``W_k = sum_i w_i L_k(v_i, T_i)`` (the Lagrange basis) that do not depend on the parameters:
computed once per fit from the Chebyshev moments of the customers, they make each node a
"virtual customer" with a weight, possibly negative, evaluated by the same code. The gradient and
Hessian are sums of the same form. Panels halve in ``v`` towards 0 and grow by at most 4 in
``T``, so the poles stay several panel widths away unless ``alpha`` is far below ``T``'s range.
Every evaluation checks the result against the nested 9 x 9 rule (every second point): if the two
differ by more than 1e-7 per customer in the log-likelihood or in a gradient component (per
log-parameter), the 17-point rule, whose error is then about that to the power 17/9 (measured:
below 5e-12), is replaced by the group's real customers. The million customers of the benchmark
become 23,912 virtual ones (and 6,751 real ones).

Accuracy. ``C(t_x) - C(T)`` cancels when ``t_x`` is close to ``T``, but only down to the rounding
of ``C(T) <= integral_T^inf f <= A / s``: the error is a few ulps of ``A``, the other summand, so
the log-likelihood keeps its full relative precision (``J``'s own relative precision is lost only
where ``s J`` is negligible). The rules are exact to about 1e-15 relative per piece (thresholds
calibrated against 64-node Gauss-Legendre over 4,375 parameter combinations, parameters 1e-3 to
1e3, frequencies to 5,000). The tests compare with the per-customer quadrature, with 60-digit
arithmetic, and the virtual customers with the real ones.

Scaling. ``f`` is stored relative to its value at the group's first end point (its maximum: ``f``
decreases), so that heavy buyers do not underflow. A group over whose end points ``f`` falls by
more than ``e^-600`` at the current parameters (thousands of purchases, or absurd parameters
on the optimiser's way) is evaluated customer by customer in that evaluation, each customer
relative to its own ``t_x``. Frequencies with fewer than 16 customers are single customers from
the start. All virtual groups, and all other groups, are each evaluated in one pass over their
points in blocks that stay in the CPU cache (a pass per group costs more in Python overhead than
in arithmetic).

Sorting. The end points are sorted once per fit by a key that packs the value's upper bits and the
row number into 64 bits (three times faster than ``argsort``): values closer than about 1e-10
relative may come out of order. Nothing depends on the order beyond the pieces being short, since
``C(t_x) - C(T)`` is a telescoping sum of signed pieces whatever the order, and so is every sum
over pieces below.

Derivatives. With ``psi = ln f`` and ``E = -grad_theta psi = (ln(alpha+u), (r+x)/(alpha+u),
ln(beta+u), (s+1)/(beta+u))``, the gradient of ``ln(A + s J)`` needs ``integral f E`` over each
customer's interval. Summed over customers with weights ``c_i``, that is ``sum over pieces of
cov_p integral_p f E`` with ``cov_p`` the total weight of the customers whose interval covers piece
``p``: a cumulative sum of ``+c_i`` at ``t_x`` and ``-c_i`` at ``T``. So the gradient, and the
Hessian's ``integral f (E E' + grad^2 psi)``, are weighted sums over end points (a 4 x 4 Gram
matrix), never per-customer integrals. Only the Hessian's ``-sum g_i g_i'`` needs each customer's
``integral f E``, again as differences of four cumulative sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .._fitting import distinct_values

#: Pieces whose length is at most this many times the local scale ``c`` (the smaller of
#: ``1/|psi'|`` and ``alpha + u`` at the piece's left end) use the corrected trapezoidal rule:
#: at 1e-3 its error is below 1e-15 of the piece's integral (calibration in the module docstring).
_HERMITE_TAU = 1e-3
#: Gauss-Legendre nodes for a longer piece by its width ``sigma = ln(1 + h/c)`` in the log variable:
#: ``(largest sigma, nodes)``; wider pieces get panels of 16 nodes, each at most 3 wide.
_GAUSS_WIDTHS = (
    (3e-3, 2),
    (0.03, 3),
    (0.15, 4),
    (0.35, 5),
    (0.6, 6),
    (1.1, 8),
    (1.6, 10),
    (2.2, 12),
    (3.0, 16),
)
_PANEL_WIDTH = 3.0
_PANEL_NODES = 16
#: Fewest customers with one frequency that are evaluated as a group.
_GROUP_MIN = 16
#: Largest fall of ln f over a group's end points (see "Scaling" in the module docstring).
_MAX_LOG_RANGE = 600.0


def _gauss_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1.0) / 2.0, weights / 2.0


_RULES = {n: _gauss_rule(n) for n in {n for _, n in _GAUSS_WIDTHS} | {_PANEL_NODES}}


@dataclass
class _Part:
    """Single customers: end points ``(t_x, T)`` in pairs at even and odd positions, each pair
    its own group (scale at its ``t_x``), with piece ``h = T - t_x`` at the even position."""

    y: np.ndarray
    h: np.ndarray
    freq: np.ndarray
    x: np.ndarray
    T: np.ndarray
    w: np.ndarray
    itx: np.ndarray
    iT: np.ndarray


def _single_part(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> _Part:
    n = len(x)
    y = np.empty(2 * n)
    y[0::2], y[1::2] = t_x, T
    h = np.zeros(2 * n)
    h[0::2] = T - t_x
    index = np.arange(n) * 2
    return _Part(y, h, np.repeat(x, 2), x, T, w, index, index + 1)


def _sorted_points(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``values`` (>= 0) in increasing order up to ~1e-10 relative, the index of each
    value among them, and the order that sorts ``values`` (see "Sorting" in the module
    docstring)."""
    m = values.size
    bits = max(1, int(m - 1).bit_length())
    # + 0.0 turns -0.0 into 0.0: the bit patterns of floats >= 0 sort like their values.
    key = (values + 0.0).view(np.uint64) >> np.uint64(bits) << np.uint64(bits)
    key |= np.arange(m, dtype=np.uint64)
    key.sort()
    order = (key & np.uint64((1 << bits) - 1)).astype(np.intp)
    ordered = values[order]
    new = np.empty(m, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    point = np.cumsum(new) - 1
    where = np.empty(m, dtype=np.intp)
    where[order] = point
    return ordered[new], where, order


def _gauss_nodes(a: np.ndarray, scale: np.ndarray, sigma: np.ndarray):
    """Gauss-Legendre nodes in ``w`` for pieces from ``a`` of log-width ``sigma``: per rule, the
    piece numbers (into the given arrays), nodes ``u`` and log-weights (k x nodes arrays)."""
    bounds = np.array([b for b, _ in _GAUSS_WIDTHS])
    choice = np.searchsorted(bounds, sigma)
    for c in np.flatnonzero(np.bincount(choice, minlength=len(bounds) + 1)):
        sel = np.flatnonzero(choice == c)
        if c < len(bounds):
            n, panels = _GAUSS_WIDTHS[c][1], np.ones(sel.size, dtype=np.intp)
            groups = [(1, sel)]
        else:
            n = _PANEL_NODES
            panels = np.ceil(sigma[sel] / _PANEL_WIDTH).astype(np.intp)
            groups = [(k, sel[panels == k]) for k in np.unique(panels)]
        nodes, weights = _RULES[n]
        for k, rows in groups:
            frac = ((np.arange(k)[:, None] + nodes[None, :]) / k).ravel()
            log_w = np.log(np.tile(weights, k) / k)
            w = frac[None, :] * sigma[rows, None]
            u = np.expm1(w)
            u *= scale[rows, None]
            u += a[rows, None]
            log_weight = w + log_w[None, :]
            log_weight += (np.log(scale[rows]) + np.log(sigma[rows]))[:, None]
            yield rows, u, log_weight


def _part_terms(theta, part: _Part, hessian: bool):
    """Sum over single customers of ``w ln(A + s J)`` (with the Gamma and power factors left to
    the caller), its gradient and (with ``hessian``) its Hessian wrt (r, alpha, s, beta); each
    customer's integral is one piece, scaled at its own ``t_x``."""
    r, alpha, s, beta = theta
    q = s + 1.0
    y = part.y
    ln_a = np.log(alpha + y)
    ln_b = np.log(beta + y)
    inv_a = np.reciprocal(alpha + y)
    inv_b = np.reciprocal(beta + y)
    p = r + part.freq
    psi = ln_a * -p
    psi -= q * ln_b
    ref = psi[0::2]
    d = psi.reshape(-1, 2) - ref[:, None]
    d = d.ravel()
    f = np.exp(d, out=d)
    # rate = -psi' > 0
    rate = p * inv_a
    rate += q * inv_b
    h = part.h
    tau = np.maximum(rate, inv_a)
    tau *= np.abs(h)
    hermite = tau <= _HERMITE_TAU
    hh = np.where(hermite, h, 0.0)
    long_pieces = np.flatnonzero(~hermite)
    n_ch = 5 if hessian else 1
    m = y.size
    # Channels: f, and f E_k for E = (ln_a, p inv_a, ln_b, q inv_b); their u-derivatives.
    g = np.empty((n_ch, m))
    dg = np.empty((n_ch, m))
    g[0] = f
    np.multiply(f, rate, out=dg[0])
    np.negative(dg[0], out=dg[0])
    if hessian:
        e_feat = (ln_a, p * inv_a, ln_b, q * inv_b)
        e_diff = (inv_a, -p * inv_a * inv_a, inv_b, -q * inv_b * inv_b)
        for k in range(4):
            np.multiply(f, e_feat[k], out=g[1 + k])
            # (f E)' = f (E' - rate E)
            np.multiply(rate, e_feat[k], out=dg[1 + k])
            np.subtract(e_diff[k], dg[1 + k], out=dg[1 + k])
            dg[1 + k] *= f
    pieces = np.zeros((n_ch, m))
    half = hh[:-1] * 0.5
    twelfth = hh[:-1] * hh[:-1] / 12.0
    pieces[:, :-1] = (g[:, :-1] + g[:, 1:]) * half
    pieces[:, :-1] += (dg[:, :-1] - dg[:, 1:]) * twelfth
    gauss = []
    if long_pieces.size:
        a = y[long_pieces]
        scale = 1.0 / np.maximum(rate[long_pieces], inv_a[long_pieces])
        sigma = np.log1p(h[long_pieces] / scale)
        piece_ref = ref[long_pieces // 2]
        piece_p = p[long_pieces]
        for rows, u, log_weight in _gauss_nodes(a, scale, sigma):
            at = long_pieces[rows]
            pp = piece_p[rows, None]
            la = np.log(alpha + u)
            lb = np.log(beta + u)
            fn = la * -pp
            fn -= q * lb
            fn += log_weight
            fn -= piece_ref[rows, None]
            np.exp(fn, out=fn)
            pieces[0, at] = fn.sum(axis=1)
            ia = 1.0 / (alpha + u)
            ib = 1.0 / (beta + u)
            feats = (la, pp * ia, lb, q * ib)
            if hessian:
                for k in range(4):
                    pieces[1 + k, at] = (fn * feats[k]).sum(axis=1)
            gauss.append((at, fn, feats, ia, ib, pp))
    # A single customer's C is its piece at t_x and 0 at T.
    cum = pieces
    itx, iT = part.itx, part.iT
    J = cum[0, itx] - cum[0, iT]
    A = f[iT] / inv_b[iT]
    L = s * J
    L += A
    w = part.w
    ll = float(w @ np.log(L)) + float(w @ ref)
    w1 = A / L
    ww1 = w * w1
    x = part.x
    pr = r + x
    la_T, ia_T, lb_T, ib_T = ln_a[iT], inv_a[iT], ln_b[iT], inv_b[iT]
    # Coverage: c_i = w s / L added at t_x, removed at T, summed along the points.
    c = w * s / L
    delta = np.bincount(itx, weights=c, minlength=m)
    delta -= np.bincount(iT, weights=c, minlength=m)
    cover = delta
    ch = cover * hh
    omega = 0.5 * ch
    omega[1:] += 0.5 * ch[:-1]
    ch *= hh
    omega_d = ch / 12.0
    omega_d[1:] -= ch[:-1] / 12.0
    # sum over pieces of cover * integral f E = sum_j a_j E_j + b_j E'_j (+ Gauss nodes)
    a_pt = omega - omega_d * rate
    a_pt *= f
    b_pt = omega_d * f
    pa = p * inv_a
    qb = q * inv_b
    ge = np.array(
        [
            ln_a @ a_pt + inv_a @ b_pt,
            pa @ a_pt - (pa * inv_a) @ b_pt,
            ln_b @ a_pt + inv_b @ b_pt,
            qb @ a_pt - (qb * inv_b) @ b_pt,
        ]
    )
    weighted = []
    for at, fn, feats, _ia, _ib, _pp in gauss:
        wn = fn * cover[at, None]
        weighted.append(wn)
        for k in range(4):
            ge[k] += float(np.sum(wn * feats[k]))
    grad = -np.array([la_T @ ww1, (pr * ia_T) @ ww1, lb_T @ ww1, (s * ib_T) @ ww1])
    grad[2] += float(w @ (J / L))
    grad -= ge
    if not hessian:
        return ll, grad, None
    h_mat = np.zeros((4, 4))
    alive = np.vstack([la_T, pr * ia_T, lb_T, s * ib_T])
    h_mat += (alive * ww1) @ alive.T
    h_mat[0, 1] -= ia_T @ ww1
    h_mat[1, 1] += (pr * ia_T * ia_T) @ ww1
    h_mat[2, 3] -= ib_T @ ww1
    h_mat[3, 3] += (s * ib_T * ib_T) @ ww1
    h_mat[2, :] -= ge / s
    h_mat[:, 2] -= ge / s
    feat = np.vstack([ln_a, pa, ln_b, qb])
    feat_d = np.vstack([inv_a, -pa * inv_a, inv_b, -qb * inv_b])
    h_mat += (feat * a_pt) @ feat.T
    cross = (feat_d * b_pt) @ feat.T
    h_mat += cross + cross.T
    inv_a2 = inv_a * inv_a
    inv_b2 = inv_b * inv_b
    h_mat[0, 1] += -(inv_a @ a_pt) + inv_a2 @ b_pt
    h_mat[1, 1] += (pa * inv_a) @ a_pt - 2.0 * (pa * inv_a2) @ b_pt
    h_mat[2, 3] += -(inv_b @ a_pt) + inv_b2 @ b_pt
    h_mat[3, 3] += (qb * inv_b) @ a_pt - 2.0 * (qb * inv_b2) @ b_pt
    for (_at, _fn, feats, ia, ib, pp), wn in zip(gauss, weighted, strict=True):
        for k in range(4):
            for k2 in range(k, 4):
                v = float(np.sum(wn * feats[k] * feats[k2]))
                h_mat[k, k2] += v
                if k2 != k:
                    h_mat[k2, k] += v
        h_mat[0, 1] -= float(np.sum(wn * ia))
        h_mat[1, 1] += float(np.sum(wn * pp * ia * ia))
        h_mat[2, 3] -= float(np.sum(wn * ib))
        h_mat[3, 3] += float(np.sum(wn * q * ib * ib))
    h_mat[1, 0] = h_mat[0, 1]
    h_mat[3, 2] = h_mat[2, 3]
    # - sum w g g' with g = (A grad psi_A + J e_s - s integral f E) / L
    ke = cum[1:, itx] - cum[1:, iT]
    gi = alive * -A
    gi -= s * ke
    gi[2] += J
    gi /= L
    h_mat -= (gi * w) @ gi.T
    return ll, grad, h_mat


#: Points (and customers) per block in :func:`_groups_terms`: the block's temporaries stay in
#: the CPU cache.
_BLOCK = 1 << 13


@dataclass
class _Groups:
    """Customers of one or more frequencies with their sorted end points, evaluated together.

    Group ``g`` has the points ``starts[g]:starts[g+1]`` and the customers
    ``row_starts[g]:row_starts[g+1]`` (ordered by T); piece ``j`` runs from ``y[j]`` to
    ``y[j+1]`` with signed length ``h[j]``, 0 at a group's last point. ``itx``, ``iT`` are the
    customers' end points. Each group has its own scale, ``f`` at its first point.
    """

    y: np.ndarray
    h: np.ndarray
    freqs: np.ndarray
    y_max: np.ndarray
    starts: np.ndarray
    row_starts: np.ndarray
    T: np.ndarray
    w: np.ndarray
    itx: np.ndarray
    iT: np.ndarray
    point_freq: np.ndarray
    point_group: np.ndarray
    row_freq: np.ndarray
    row_group: np.ndarray
    #: The groups one by one (when there are several), for a fallback that needs them apart.
    members: list[_Groups] = field(default_factory=list)
    #: A single group's customers as single customers, made when first needed.
    fallback: _Part | None = None
    _work: tuple[np.ndarray, ...] | None = None

    @property
    def n_groups(self) -> int:
        return len(self.freqs)

    def workspace(self) -> tuple[np.ndarray, ...]:
        """Arrays reused by every evaluation of a fit: allocating them anew each time costs
        more than the arithmetic (the memory is touched page by page)."""
        if self._work is None:
            m = self.y.size
            self._work = (np.empty((10, m)), np.empty((5, m)), np.empty((5, m)), np.empty((4, m)))
        return self._work

    def single_customers(self) -> _Part:
        if self.fallback is None:
            self.fallback = _single_part(self.row_freq, self.y[self.itx], self.T, self.w)
        return self.fallback


def _make_group(freq: float, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> _Groups:
    """One frequency's customers as a :class:`_Groups` (sorted end points, customers by T)."""
    n = len(T)
    # Customers without repeat purchases all have t_x = 0: one point for all of them.
    same_start = bool(np.all(t_x == t_x[0]))
    starts = t_x[:1] if same_start else t_x
    y, where, by_value = _sorted_points(np.concatenate([starts, T]))
    itx = np.full(n, where[0]) if same_start else where[:n]
    iT = where[len(starts) :]
    # Customers in the order of their T, so that reading per-point values at iT runs forward.
    order = by_value[by_value >= len(starts)] - len(starts)
    h = np.zeros(len(y))
    h[:-1] = np.diff(y)
    m = len(y)
    return _Groups(
        y=y,
        h=h,
        freqs=np.array([float(freq)]),
        y_max=np.array([float(y.max())]),
        starts=np.array([0, m]),
        row_starts=np.array([0, n]),
        T=T[order],
        w=w[order],
        itx=itx[order],
        iT=iT[order],
        point_freq=np.full(m, float(freq)),
        point_group=np.zeros(m, dtype=np.intp),
        row_freq=np.full(n, float(freq)),
        row_group=np.zeros(n, dtype=np.intp),
    )


def _merge(groups: list[_Groups]) -> _Groups:
    """Several single-frequency :class:`_Groups` as one, evaluated in one pass."""
    if len(groups) == 1:
        return groups[0]
    sizes = np.array([g.y.size for g in groups])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    row_sizes = np.array([g.T.size for g in groups])
    cat = np.concatenate
    return _Groups(
        y=cat([g.y for g in groups]),
        h=cat([g.h for g in groups]),
        freqs=cat([g.freqs for g in groups]),
        y_max=cat([g.y_max for g in groups]),
        starts=offsets,
        row_starts=np.concatenate([[0], np.cumsum(row_sizes)]),
        T=cat([g.T for g in groups]),
        w=cat([g.w for g in groups]),
        itx=cat([g.itx + o for g, o in zip(groups, offsets, strict=False)]),
        iT=cat([g.iT + o for g, o in zip(groups, offsets, strict=False)]),
        point_freq=cat([g.point_freq for g in groups]),
        point_group=np.repeat(np.arange(len(groups)), sizes),
        row_freq=cat([g.row_freq for g in groups]),
        row_group=np.repeat(np.arange(len(groups)), row_sizes),
        members=list(groups),
    )


def _reverse_cumsum(pieces: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    """``out[:, j] = sum of pieces[:, j:stop]`` for ``start <= j < stop``, block by block from the
    right (each block's reversed sum in the CPU cache)."""
    carry = np.zeros((pieces.shape[0], 1))
    for hi in range(stop, start, -_BLOCK):
        lo = max(hi - _BLOCK, start)
        block = out[:, lo:hi]
        np.cumsum(pieces[:, hi - 1 : (lo - 1 if lo else None) : -1], axis=1, out=block)
        block += carry
        block[:] = block[:, ::-1].copy()
        carry = block[:, :1].copy()


def _groups_terms(theta, groups: _Groups, hessian: bool, per_group: bool = False):
    """Sum over the customers of ``w ln(A + s J)`` (with the Gamma and power factors left to the
    caller), its gradient and (with ``hessian``) its Hessian wrt (r, alpha, s, beta), every pass
    in blocks that stay in the CPU cache; with ``per_group`` also each group's log-likelihood
    and gradient. ``None`` when some group's scale range is too wide (see the module
    docstring)."""
    r, alpha, s, beta = theta
    q = s + 1.0
    y, h = groups.y, groups.h
    m = y.size
    first = groups.starts[:-1]
    p_g = r + groups.freqs
    ref_g = -p_g * np.log(alpha + y[first]) - q * np.log(beta + y[first])
    lowest = -p_g * np.log(alpha + groups.y_max) - q * np.log(beta + groups.y_max)
    if np.any(ref_g - lowest > _MAX_LOG_RANGE):
        return None
    n_ch = 5 if hessian else 1
    points, pieces, cum, contributions = groups.workspace()
    ln_a, ln_b, inv_a, inv_b, f, rate, hh, delta, p_pt, ref_pt = points
    pieces, cum = pieces[:n_ch], cum[:n_ch]
    pieces[:, -1] = 0.0
    np.add(groups.point_freq, r, out=p_pt)
    np.take(ref_g, groups.point_group, out=ref_pt)
    long_pieces = []
    # Pass 1, points: the integrand and its features, and the pieces' integrals (corrected
    # trapezoidal rule) for the channels f and f E_k.
    for start in range(0, m, _BLOCK):
        stop = min(start + _BLOCK, m)
        ext = min(stop + 1, m)  # the right end of the block's last piece
        pb = p_pt[start:ext]
        la = np.add(y[start:ext], alpha)
        ia = np.reciprocal(la)
        np.log(la, out=la)
        lb = np.add(y[start:ext], beta)
        ib = np.reciprocal(lb)
        np.log(lb, out=lb)
        # f relative to its group's scale: exp(psi - psi(first point)).
        fb = la * pb
        fb += q * lb
        fb += ref_pt[start:ext]
        np.negative(fb, out=fb)
        np.exp(fb, out=fb)
        pia = pb * ia
        rb = q * ib
        rb += pia
        n = stop - start
        ln_a[start:stop], ln_b[start:stop] = la[:n], lb[:n]
        inv_a[start:stop], inv_b[start:stop] = ia[:n], ib[:n]
        f[start:stop], rate[start:stop] = fb[:n], rb[:n]
        hb = h[start:stop]
        tau = np.maximum(rb[:n], ia[:n])
        tau *= np.abs(hb)
        hermite = tau <= _HERMITE_TAU
        hhb = np.where(hermite, hb, 0.0)
        hh[start:stop] = hhb
        if not hermite.all():
            long_pieces.append(start + np.flatnonzero(~hermite))
        if ext == stop:  # the last point has no piece
            n -= 1
            hhb = hhb[:n]
        half = hhb * 0.5
        twelfth = hhb * hhb
        twelfth /= 12.0
        fr = fb * rb
        channels = [(fb, np.negative(fr))]
        if hessian:
            # (f E)' = f E' - rate f E, with E = (ln_a, p ia, ln_b, q ib), E' = (ia, -p ia^2, ...)
            for feature, derivative in ((la, ia), (pia, -pia * ia), (lb, ib)):
                dg = derivative * fb
                dg -= fr * feature
                channels.append((fb * feature, dg))
            feature = q * ib
            dg = feature * ib
            dg *= -fb
            dg -= fr * feature
            channels.append((fb * feature, dg))
        for c, (g, dg) in enumerate(channels):
            out = pieces[c, start : start + n]
            np.add(g[:n], g[1 : n + 1], out=out)
            out *= half
            d = dg[:n] - dg[1 : n + 1]
            d *= twelfth
            out += d
    gauss = None
    if long_pieces:
        at = np.concatenate(long_pieces)
        at = at[h[at] != 0]
        if at.size:
            gauss = _gauss_pieces(theta, p_pt, q, ref_pt, y, h, rate, inv_a, at, pieces, hessian)
    # C at each point: the sum of its group's pieces to its right.
    for g in range(groups.n_groups):
        _reverse_cumsum(pieces, cum, int(groups.starts[g]), int(groups.starts[g + 1]))
    # Customers, in blocks (ordered by group and T, so a block reads a narrow range of points).
    itx, iT, w = groups.itx, groups.iT, groups.w
    n_rows = len(w)
    ll = float(w @ ref_g[groups.row_group])
    grad = np.zeros(4)
    h_mat = np.zeros((4, 4))
    coverage = np.empty(n_rows)
    row_ll = np.empty(n_rows) if per_group else None
    row_grad = np.empty((4, n_rows)) if per_group else None
    for start in range(0, n_rows, _BLOCK):
        stop = min(start + _BLOCK, n_rows)
        it = iT[start:stop]
        wb = w[start:stop]
        cum_tx = cum[:, itx[start:stop]]
        cum_T = cum[:, it]
        J = cum_tx[0] - cum_T[0]
        ib_T = inv_b[it]
        A = f[it] / ib_T
        L = s * J
        L += A
        log_l = np.log(L)
        ll += float(wb @ log_l)
        inv_l = np.reciprocal(L, out=L)
        ww1 = A * inv_l
        ww1 *= wb
        coverage[start:stop] = wb * inv_l
        alive = np.empty((4, stop - start))
        np.take(ln_a, it, out=alive[0])
        ia_T = inv_a[it]
        pr = groups.row_freq[start:stop] + r
        np.multiply(ia_T, pr, out=alive[1])
        np.take(ln_b, it, out=alive[2])
        np.multiply(ib_T, s, out=alive[3])
        grad -= alive @ ww1
        wj = wb * J
        wj *= inv_l
        grad[2] += wj.sum()
        if per_group:
            row_ll[start:stop] = wb * (log_l + ref_g[groups.row_group[start:stop]])
            np.multiply(alive, -ww1, out=row_grad[:, start:stop])
            row_grad[2, start:stop] += wj
        if hessian:
            h_mat += (alive * ww1) @ alive.T
            h_mat[0, 1] -= ia_T @ ww1
            h_mat[1, 1] += (pr * ia_T * ia_T) @ ww1
            h_mat[2, 3] -= ib_T @ ww1
            h_mat[3, 3] += s * float((ib_T * ib_T) @ ww1)
            # - sum w g g' with g = (-A alive - s integral f E + J e_s) / L
            gi = cum_tx[1:] - cum_T[1:]
            gi *= -s
            gi -= alive * A
            gi[2] += J
            gi *= inv_l
            h_mat -= (gi * wb) @ gi.T
    # Coverage: c_i = w s / L added at t_x, removed at T, summed along each group's points.
    coverage *= s
    delta[:] = np.bincount(itx, weights=coverage, minlength=m)
    delta -= np.bincount(iT, weights=coverage, minlength=m)
    for g in range(groups.n_groups):
        lo, hi = int(groups.starts[g]), int(groups.starts[g + 1])
        np.cumsum(delta[lo:hi], out=delta[lo:hi])
    cover = delta
    # Pass 2, points: each point's weights in the sums over pieces of cover * integral f (...):
    # a for its values, b for its derivatives; then their products with the features.
    ge = np.zeros(4)
    gram = np.zeros((6, 6))
    cross = np.zeros((4, 6))
    for start in range(0, m, _BLOCK):
        stop = min(start + _BLOCK, m)
        n = stop - start
        # Point j gets half of its two pieces, j - 1 and j (none left of a group's first point).
        hb = np.zeros(n + 1)
        hb[1:] = hh[start:stop]
        ch = np.zeros(n + 1)
        np.multiply(cover[start:stop], hb[1:], out=ch[1:])
        if start > 0:
            hb[0] = hh[start - 1]
            ch[0] = cover[start - 1] * hb[0]
        ch2 = ch * hb
        omega = ch[1:] + ch[:-1]
        omega *= 0.5
        omega_d = ch2[1:] - ch2[:-1]
        omega_d /= 12.0
        sl = slice(start, stop)
        fb = f[sl]
        a_pt = omega_d * rate[sl]
        np.subtract(omega, a_pt, out=a_pt)
        a_pt *= fb
        b_pt = omega_d
        b_pt *= fb
        ia, ib = inv_a[sl], inv_b[sl]
        feats = np.empty((6, n))
        feats[0] = 1.0
        feats[1] = ln_a[sl]
        np.multiply(ia, p_pt[sl], out=feats[2])
        feats[3] = ln_b[sl]
        np.multiply(ib, q, out=feats[4])
        feats[5] = ia
        derivs = np.empty((4, n))
        derivs[0] = ia
        np.multiply(feats[2], ia, out=derivs[1])
        np.negative(derivs[1], out=derivs[1])
        derivs[2] = ib
        np.multiply(feats[4], ib, out=derivs[3])
        np.negative(derivs[3], out=derivs[3])
        if per_group:
            part = contributions[:, sl]
            np.multiply(feats[1:5], a_pt, out=part)
            part += derivs * b_pt
            ge += part.sum(axis=1)
        elif hessian:
            gram += (feats * a_pt) @ feats.T
            cross += (derivs * b_pt) @ feats.T
        else:
            ge += feats[1:5] @ a_pt
            ge += derivs @ b_pt
        if per_group and hessian:
            gram += (feats * a_pt) @ feats.T
            cross += (derivs * b_pt) @ feats.T
    if hessian and not per_group:
        ge = gram[0, 1:5] + cross[:, 0]
    if gauss is not None:
        at, fn, feats_n, ia_n, ib_n, p_n = gauss
        wn = fn * cover[at]
        ge_n = feats_n @ wn
        ge += ge_n
    grad -= ge
    per = None
    if per_group:
        group_ll = np.add.reduceat(row_ll, groups.row_starts[:-1]) if n_rows else np.zeros(0)
        group_grad = np.add.reduceat(row_grad, groups.row_starts[:-1], axis=1)
        group_grad -= np.add.reduceat(contributions[:, :m], first, axis=1)
        if gauss is not None:
            node_group = groups.point_group[at]
            for k in range(4):
                group_grad[k] -= np.bincount(
                    node_group, weights=wn * feats_n[k], minlength=groups.n_groups
                )
        per = (group_ll, group_grad)
    if not hessian:
        return ll, grad, None, per
    h_mat[2, :] -= ge / s
    h_mat[:, 2] -= ge / s
    # integral f (E E' + grad^2 psi) weighted by cover: Gram matrices of the features (feature 0
    # is 1 and feature 5 is 1/(alpha+u), so that the sums grad^2 psi needs are there too).
    # grad^2 psi has (r, alpha) -1/(alpha+u), (alpha, alpha) p/(alpha+u)^2, (s, beta) -1/(beta+u),
    # (beta, beta) q/(beta+u)^2; the b weights take their u-derivatives.
    h_mat += gram[1:5, 1:5]
    h_mat += cross[:, 1:5] + cross[:, 1:5].T
    h_mat[0, 1] += cross[0, 5] - gram[0, 5]
    h_mat[1, 1] += gram[2, 5] + 2.0 * cross[1, 5]
    h_mat[2, 3] += (cross[2, 4] - gram[0, 4]) / q
    h_mat[3, 3] += (gram[4, 4] + 2.0 * cross[3, 4]) / q
    if gauss is not None:
        h_mat += (feats_n * wn) @ feats_n.T
        h_mat[0, 1] -= float(wn @ ia_n)
        h_mat[1, 1] += float(wn @ (p_n * ia_n * ia_n))
        h_mat[2, 3] -= float(wn @ ib_n)
        h_mat[3, 3] += q * float(wn @ (ib_n * ib_n))
    h_mat[1, 0] = h_mat[0, 1]
    h_mat[3, 2] = h_mat[2, 3]
    return ll, grad, h_mat, per


def _gauss_pieces(theta, p_pt, q, ref_pt, y, h, rate, inv_a, at, pieces, hessian):
    """Gauss-Legendre sums of the long pieces ``at`` into ``pieces``; returns the nodes' piece
    numbers, weighted integrand, features (4 x nodes), 1/(alpha+u), 1/(beta+u) and r + x."""
    alpha, beta = theta[1], theta[3]
    scale = 1.0 / np.maximum(rate[at], inv_a[at])
    sigma = np.log1p(h[at] / scale)
    p_at, ref_at = p_pt[at], ref_pt[at]
    out = {k: [] for k in ("at", "f", "feats", "ia", "ib", "p")}
    for rows, u, log_weight in _gauss_nodes(y[at], scale, sigma):
        pp = p_at[rows, None]
        la = np.log(alpha + u)
        lb = np.log(beta + u)
        fn = la * -pp
        fn -= q * lb
        fn += log_weight
        fn -= ref_at[rows, None]
        np.exp(fn, out=fn)
        ia = 1.0 / (alpha + u)
        ib = 1.0 / (beta + u)
        feats = np.stack([la, pp * ia, lb, q * ib])
        index = at[rows]
        pieces[0, index] = fn.sum(axis=1)
        if hessian:
            pieces[1:5, index] = (feats * fn).sum(axis=2)
        width = u.shape[1]
        out["at"].append(np.repeat(index, width))
        out["f"].append(fn.ravel())
        out["feats"].append(feats.reshape(4, -1))
        out["ia"].append(ia.ravel())
        out["ib"].append(ib.ravel())
        out["p"].append(np.broadcast_to(pp, u.shape).ravel())
    return (
        np.concatenate(out["at"]),
        np.concatenate(out["f"]),
        np.concatenate(out["feats"], axis=1),
        np.concatenate(out["ia"]),
        np.concatenate(out["ib"]),
        np.concatenate(out["p"]),
    )


#: Chebyshev-Lobatto points per panel and direction (v and T), and the nested rule that checks
#: them (every second point).
_NODES = 17
_CHECK_NODES = 9
#: Panels in v = t_x / T: halving towards v = 0, where the pole of f at t_x = -alpha is nearest.
_V_EDGES = np.array(
    [0.0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 5 / 8, 3 / 4, 7 / 8, 1.0]
)
#: The virtual customers are used when their sums differ from the nested rule's by at most this
#: much per customer, in the log-likelihood and in each gradient component wrt log-parameters.
#: The 17-point rule's own error is then about this to the power 17/9: on a real summary (44
#: frequencies, 441,730 distinct histories) every group whose nested rule differed by up to
#: 3e-7 had a true error below 5e-12 per customer.
_CHECK_TOLERANCE = 1e-7


def _v_panel(v: np.ndarray) -> np.ndarray:
    """The panel of :data:`_V_EDGES` that holds each ``v`` in [0, 1] (arithmetic, not a search):
    below 1/4 the binary exponent of ``64 v``, above it eighths."""
    exponent = np.frexp(v * 64.0)[1]
    np.clip(exponent, 0, 4, out=exponent)
    upper = v >= 0.25
    eighths = np.minimum(5 + ((v[upper] - 0.25) * 8.0).astype(np.intp), len(_V_EDGES) - 2)
    panel = exponent.astype(np.intp)
    panel[upper] = eighths
    return panel


def _lobatto(a: float, b: float, k: int) -> np.ndarray:
    """``k`` Chebyshev-Lobatto points on [a, b] (the midpoint for ``k == 1``)."""
    if k == 1:
        return np.array([0.5 * (a + b)])
    return 0.5 * (a + b) - 0.5 * (b - a) * np.cos(np.pi * np.arange(k) / (k - 1))


def _chebyshev_rows(z: np.ndarray, a: float, b: float, k: int) -> np.ndarray:
    """The Chebyshev polynomials T_0 .. T_{k-1} on [a, b] at ``z``: k x len(z)."""
    out = np.empty((k, z.size))
    out[0] = 1.0
    if k > 1:
        t = out[1]
        np.multiply(z, 2.0 / (b - a), out=t)
        t -= (a + b) / (b - a)
        for j in range(2, k):
            np.multiply(t, out[j - 1], out=out[j])
            out[j] *= 2.0
            out[j] -= out[j - 2]
    return out


def _inverse_vandermonde(k: int) -> np.ndarray:
    """Inverse of ``V[i, a] = T_a(x_i)`` at the ``k`` Chebyshev-Lobatto points of [-1, 1]."""
    angles = np.pi * np.arange(k) / max(k - 1, 1)
    # x_i = -cos(angle_i), so T_a(x_i) = cos(a (pi - angle_i)).
    return np.linalg.inv(np.cos(np.arange(k)[None, :] * (np.pi - angles)[:, None]))


_INVERSE_VANDERMONDE = {k: _inverse_vandermonde(k) for k in (1, _CHECK_NODES, _NODES)}


def _node_weights(moments: np.ndarray, n_v: int, n_t: int) -> np.ndarray:
    """Weights ``W`` of the ``n_v x n_t`` tensor Lobatto points whose sums of the Chebyshev
    products ``T_a(v) T_b(T)`` are the given moments: ``V_v' W V_t = M``."""
    inv_v, inv_t = _INVERSE_VANDERMONDE[n_v], _INVERSE_VANDERMONDE[n_t]
    return inv_v.T @ moments[:n_v, :n_t] @ inv_t


def _panel_edges(lo: float, hi: float) -> np.ndarray:
    """Panels of [lo, hi] in T: each at most three times as long as its distance from 0 (plus
    1/64 of the range), so that the poles at T = -alpha, -beta stay well away."""
    edges = [lo]
    while edges[-1] < hi:
        a = edges[-1]
        edges.append(min(hi, max(4.0 * a, a + (hi - lo) / 64)))
    return np.array(edges)


def _cell_customers(v, T, w, v_range, t_range, n_v, n_t):
    """Virtual customers ``(t_x, T, weight)`` standing for the customers ``(v, T, w)`` of one
    panel, at its ``n_v x n_t`` tensor Chebyshev-Lobatto points, and those of the nested rule
    (every second point): the weights reproduce the customers' sums of every product of
    Chebyshev polynomials up to that degree."""
    moments = np.zeros((n_v, n_t))
    # Blocks of customers, so that the Chebyshev values stay in the CPU cache.
    for start in range(0, len(v), _BLOCK):
        block = slice(start, start + _BLOCK)
        cheb_v = _chebyshev_rows(v[block], *v_range, n_v)
        cheb_v *= w[block]
        moments += cheb_v @ _chebyshev_rows(T[block], *t_range, n_t).T
    out = []
    for k_v, k_t in ((n_v, n_t), (min(n_v, _CHECK_NODES), min(n_t, _CHECK_NODES))):
        nodes_v, nodes_t = _lobatto(*v_range, k_v), _lobatto(*t_range, k_t)
        t_x = nodes_v[:, None] * nodes_t[None, :]
        weights = _node_weights(moments, k_v, k_t)
        out.append((t_x.ravel(), np.tile(nodes_t, k_v), weights.ravel()))
    return out


@dataclass
class _Virtual:
    """A frequency's customers as weighted virtual customers (``main``), the nested rule's
    (``check``), and the real customers for the exact evaluation when the check fails."""

    main: _Groups
    check: _Groups
    rows: tuple[float, np.ndarray, np.ndarray, np.ndarray]
    total: float
    exact: _Groups | None = None

    def exact_group(self) -> _Groups:
        if self.exact is None:
            self.exact = _make_group(*self.rows)
        return self.exact


def _virtual_group(freq: float, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> _Virtual | None:
    """The customers of one frequency as virtual customers at tensor Chebyshev points in
    ``(v, T)``, ``v = t_x / T``, weighted by the sums of the customers' Lagrange bases: the
    group's sum of any polynomial of degree < 17 in each of ``v`` and ``T`` (per panel) is then
    exact, and the log-likelihood and its derivatives are analytic in both. ``None`` when that
    would not save much. Panels with fewer customers than nodes keep their real customers."""
    n = len(T)
    same_start = bool(np.all(t_x == 0.0))
    v = np.zeros(n) if same_start else np.divide(t_x, T, out=np.zeros(n), where=T > 0)
    np.clip(v, 0.0, 1.0, out=v)
    v_edges = np.array([0.0, 0.0]) if same_start else _V_EDGES
    t_edges = _panel_edges(float(T.min()), float(T.max()))
    n_tp = max(len(t_edges) - 1, 1)
    if (len(v_edges) - 1) * n_tp >= 1 << 16:
        return None
    cell = np.zeros(n, dtype=np.intp)
    if not same_start:
        cell += _v_panel(v)
        cell *= n_tp
    if n_tp > 1:
        cell += np.clip(np.searchsorted(t_edges, T, side="right") - 1, 0, n_tp - 1)
    # Customers by panel (a radix sort of small integers).
    order = np.argsort(cell.astype(np.uint16), kind="stable")
    counts = np.bincount(cell)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    main: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    check: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for c in np.flatnonzero(counts):
        rows = order[bounds[c] : bounds[c + 1]]
        v_range = (v_edges[c // n_tp], v_edges[c // n_tp + 1])
        t_range = (t_edges[c % n_tp], t_edges[min(c % n_tp + 1, len(t_edges) - 1)])
        n_v = 1 if v_range[1] <= v_range[0] else _NODES
        n_t = 1 if t_range[1] <= t_range[0] else _NODES
        if len(rows) <= n_v * n_t:
            real = (t_x[rows], T[rows], w[rows])
            main.append(real)
            check.append(real)
            continue
        full, nested = _cell_customers(v[rows], T[rows], w[rows], v_range, t_range, n_v, n_t)
        main.append(full)
        check.append(nested)
    size = sum(len(m[0]) for m in main)
    if size > n // 2:
        return None
    main_group, check_group = (
        _make_group(freq, *(np.concatenate(c) for c in zip(*parts, strict=True)))
        for parts in (main, check)
    )
    return _Virtual(main_group, check_group, (freq, t_x, T, w), float(np.abs(w).sum()))


class ParetoHistories:
    """Customers arranged once per fit for :func:`pareto_nbd_negll_grouped`.

    Customers are grouped by frequency. A frequency with many customers becomes virtual
    customers (:func:`_virtual_group`); one with at least ``_GROUP_MIN`` customers is evaluated
    with its sorted end points; the rest are single customers. The virtual groups (and their
    checks) and the other groups are each evaluated in one pass.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray):
        x, t_x, T, weights = (np.asarray(v, dtype=float) for v in (x, t_x, T, weights))
        self.n_rows = len(x)
        self.total_weight = float(weights.sum())
        self.frequencies, inverse = distinct_values(x)
        self.weight_per_frequency = np.bincount(
            inverse, weights=weights, minlength=len(self.frequencies)
        )
        counts = np.bincount(inverse, minlength=len(self.frequencies))
        # Rows by frequency (a stable radix sort of small integers).
        codes = inverse.astype(np.uint16) if len(counts) < 1 << 16 else inverse
        by_group = np.argsort(codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        self.virtual: list[_Virtual] = []
        exact: list[_Groups] = []
        single: list[np.ndarray] = []
        for g in range(len(counts)):
            rows = by_group[bounds[g] : bounds[g + 1]]
            if counts[g] < _GROUP_MIN:
                single.append(rows)
                continue
            group = (self.frequencies[g], t_x[rows], T[rows], weights[rows])
            virtual = _virtual_group(*group)
            if virtual is None:
                exact.append(_make_group(*group))
            else:
                self.virtual.append(virtual)
        self.exact = _merge(exact) if exact else None
        self.virtual_main = _merge([v.main for v in self.virtual]) if self.virtual else None
        self.virtual_check = _merge([v.check for v in self.virtual]) if self.virtual else None
        #: The virtual groups that failed their check in the last evaluation, merged (see
        #: :func:`_virtual_terms`).
        self.failed_key: tuple[int, ...] = ()
        self.failed: tuple[_Groups, _Groups] | None = None
        self.single = None
        if single:
            rows = np.concatenate(single)
            self.single = _single_part(x[rows], t_x[rows], T[rows], weights[rows])

    def __len__(self) -> int:
        return self.n_rows


def _exact_terms(theta, groups: _Groups, hessian: bool):
    """:func:`_groups_terms` without the per-group sums; groups whose scale range is too wide
    are evaluated customer by customer."""
    terms = _groups_terms(theta, groups, hessian)
    if terms is not None:
        return terms[:3]
    if groups.n_groups == 1:
        return _part_terms(theta, groups.single_customers(), hessian)
    return _sum_terms([_exact_terms(theta, g, hessian) for g in groups.members])


def _sum_terms(terms):
    ll = sum(t[0] for t in terms)
    grad = np.sum([t[1] for t in terms], axis=0)
    h_mat = None if terms[0][2] is None else np.sum([t[2] for t in terms], axis=0)
    return ll, grad, h_mat


def _virtual_terms(theta, rows: ParetoHistories, hessian: bool):
    """The virtual groups' terms, each group's from its virtual customers when the nested rule
    agrees with them (see :data:`_CHECK_TOLERANCE`), else from its real customers."""
    main = _groups_terms(theta, rows.virtual_main, hessian, per_group=True)
    check = _groups_terms(theta, rows.virtual_check, False, per_group=True)
    if main is None or check is None:
        return _sum_terms([_one_virtual_terms(theta, v, hessian) for v in rows.virtual])
    ll, grad, h_mat, (ll_main, grad_main) = main
    ll_check, grad_check = check[3]
    limit = _CHECK_TOLERANCE * np.array([v.total for v in rows.virtual])
    theta_col = np.asarray(theta)[:, None]
    bad = (np.abs(ll_main - ll_check) > limit) | np.any(
        np.abs((grad_main - grad_check) * theta_col) > limit, axis=0
    )
    if not bad.any():
        return ll, grad, h_mat
    # The groups that failed, together: their virtual customers' terms out, their real ones in.
    failed = tuple(int(g) for g in np.flatnonzero(bad))
    if rows.failed_key != failed:
        rows.failed_key = failed
        rows.failed = (
            _merge([rows.virtual[g].main for g in failed]),
            _merge([rows.virtual[g].exact_group() for g in failed]),
        )
    # (Their scale ranges passed in the merged pass, so this pass does not return None.)
    approx = _groups_terms(theta, rows.failed[0], hessian)
    exact = _exact_terms(theta, rows.failed[1], hessian)
    negated = (-approx[0], -approx[1], None if approx[2] is None else -approx[2])
    return _sum_terms([(ll, grad, h_mat), negated, exact])


def _one_virtual_terms(theta, virtual: _Virtual, hessian: bool):
    """One virtual group's terms, checked (see :func:`_virtual_terms`)."""
    main = _groups_terms(theta, virtual.main, hessian)
    check = _groups_terms(theta, virtual.check, False) if main is not None else None
    if check is not None:
        limit = _CHECK_TOLERANCE * virtual.total
        if abs(main[0] - check[0]) <= limit and bool(
            np.all(np.abs((main[1] - check[1]) * np.asarray(theta)) <= limit)
        ):
            return main[:3]
    return _exact_terms(theta, virtual.exact_group(), hessian)


def pareto_nbd_negll_grouped(theta, rows: ParetoHistories, weights=None, *, hessian=False):
    """Weighted negative log-likelihood and gradient (and with ``hessian`` the Hessian) wrt
    (r, alpha, s, beta), from customers arranged by :class:`ParetoHistories`.

    ``weights`` is ignored (the rows carry theirs); it keeps the fitting core's signature.
    """
    r, alpha, s, beta = (float(v) for v in theta)
    theta = (r, alpha, s, beta)
    xs, wx, total = rows.frequencies, rows.weight_per_frequency, rows.total_weight
    log_alpha, log_beta = np.log(alpha), np.log(beta)
    ll = float(wx @ (special.gammaln(r + xs) - special.gammaln(r)))
    ll += total * (r * log_alpha + s * log_beta)
    grad = np.array(
        [
            float(wx @ (special.digamma(r + xs) - special.digamma(r))) + total * log_alpha,
            total * r / alpha,
            total * log_beta,
            total * s / beta,
        ]
    )
    h_mat = None
    if hessian:
        h_mat = np.zeros((4, 4))
        h_mat[0, 0] = float(wx @ (special.polygamma(1, r + xs) - special.polygamma(1, r)))
        h_mat[0, 1] = h_mat[1, 0] = total / alpha
        h_mat[1, 1] = -total * r / alpha**2
        h_mat[2, 3] = h_mat[3, 2] = total / beta
        h_mat[3, 3] = -total * s / beta**2
    parts = []
    if rows.virtual:
        parts.append(_virtual_terms(theta, rows, hessian))
    if rows.exact is not None:
        parts.append(_exact_terms(theta, rows.exact, hessian))
    if rows.single is not None:
        parts.append(_part_terms(theta, rows.single, hessian))
    for part_ll, part_grad, part_h in parts:
        ll += part_ll
        grad += part_grad
        if hessian:
            h_mat += part_h
    if not hessian:
        return -ll, -grad
    return -ll, -grad, -h_mat
