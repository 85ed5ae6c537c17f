"""The optimiser's Newton polish next to an optimum, where values drown in rounding noise."""

from __future__ import annotations

import numpy as np

from clvpredict._fitting import GRADIENT_TOLERANCE, _newton_polish

#: Curvature of a well-identified direction (the Gamma-Gamma's p on a few thousand donors).
STIFF = 45.0
#: Rounding noise of a mean over thousands of log-likelihood terms, relative to f ~ 3.
NOISE = 2e-13


def _noisy_quadratic(phi: np.ndarray) -> tuple[float, np.ndarray]:
    """f = 3 + STIFF/2 phi^2, plus a bump of rounding size at the optimum; the analytic
    gradient, like a model's, does not see the rounding."""
    x = float(phi[0])
    f = 3.0 + 0.5 * STIFF * x * x + NOISE * np.exp(-((x / 1e-8) ** 2))
    return f, np.array([STIFF * x])


def test_newton_step_into_the_rounding_noise_is_taken():
    # Where L-BFGS-B stopped: a gradient of 2.6e-6, above the convergence tolerance, whose
    # true decrease g^2 / (2 STIFF) = 7.5e-14 is smaller than the noise of the value.
    phi0 = np.array([2.6e-6 / STIFF])
    f0, g0 = _noisy_quadratic(phi0)
    assert abs(g0[0]) > GRADIENT_TOLERANCE
    assert _noisy_quadratic(np.zeros(1))[0] > f0  # comparing values alone refuses the step

    phi, f = _newton_polish(_noisy_quadratic, lambda p: _noisy_quadratic(p)[1], phi0, f0)

    assert abs(_noisy_quadratic(phi)[1][0]) < 1e-12
    assert f - f0 < 1e-12 * f0


def test_a_step_that_really_climbs_is_refused():
    """A 'Newton step' up a slope (a bad Hessian) is refused even though it is small."""

    def concave(phi: np.ndarray) -> tuple[float, np.ndarray]:
        x = float(phi[0])
        return -0.5 * x * x + 1e-3 * x, np.array([-x + 1e-3])

    phi0 = np.array([0.0])
    f0 = concave(phi0)[0]
    phi, f = _newton_polish(concave, lambda p: concave(p)[1], phi0, f0)
    assert phi[0] == 0.0 and f == f0
