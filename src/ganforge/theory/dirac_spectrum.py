"""Local stability of the Dirac-GAN: Jacobians, eigenvalues, characteristic polynomial and Routh-Hurwitz.

Papers: SD-GAN Section 3 (Eq. 4-6) and R3GAN Appendix H (Eq. 8-9, 12, 14-15).
"""

from __future__ import annotations

import numpy as np

from ganforge.theory.dirac_systems import DiracConfig, Order, discrete_step, f_prime, f_second, vector_field


def jacobian_eq4(cfg: DiracConfig) -> np.ndarray:
    """The SD-GAN Jacobian at (0, 0, 0) exactly as printed (SD-GAN Eq. 4); needs a 3-d (EMA) variant."""
    if cfg.dim != 3:
        raise ValueError(f"Eq. 4 describes the (theta, psi, phi) system; variant {cfg.variant!r} has no phi")
    eg, ed, ep, a, c = cfg.lr_g, cfg.lr_d, cfg.ema_rate, cfg.alpha, cfg.c
    # SD-GAN Eq. 4
    return np.array([[-eg * a, -eg * c, eg * a], [ed * c, 0.0, 0.0], [ep, 0.0, -ep]])


def jacobian(cfg: DiracConfig, x: np.ndarray | None = None) -> np.ndarray:
    """Analytic Jacobian of the vector field at x (default: the equilibrium, where it equals SD-GAN Eq. 4
    for the EMA variants and R3GAN Eq. 9 / Eq. 15, scaled by the learning rates, for the others)."""
    x = np.zeros(cfg.dim) if x is None else np.asarray(x, dtype=float)
    theta, psi = x[0], x[1]
    s = psi * theta
    fp, fpp = float(f_prime(cfg.f, s)), float(f_second(cfg.f, s))
    eg, ed, a = cfg.lr_g, cfg.lr_d, cfg.alpha
    # R3GAN App. H Eq. 8 / Eq. 14 with learning rates, plus the SD term of SD-GAN Eq. 3
    j = np.array(
        [
            [-eg * (psi**2 * fpp + a), -eg * (fp + s * fpp)],
            [ed * (fp + s * fpp), ed * (theta**2 * fpp - cfg.penalty)],
        ]
    )
    if cfg.dim == 2:
        return j
    ep = cfg.ema_rate
    return np.block([[j, np.array([[eg * a], [0.0]])], [np.array([[ep, 0.0, -ep]])]])


def numeric_jacobian(cfg: DiracConfig, x: np.ndarray | None = None, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of the vector field at x (default: the equilibrium)."""
    x = np.zeros(cfg.dim) if x is None else np.asarray(x, dtype=float)
    v = vector_field(cfg)
    cols = []
    for i in range(cfg.dim):
        e = np.zeros(cfg.dim)
        e[i] = h
        cols.append((v(0.0, x + e) - v(0.0, x - e)) / (2.0 * h))
    return np.stack(cols, axis=1)


def eigenvalues(cfg: DiracConfig) -> np.ndarray:
    """Eigenvalues of the Jacobian at the equilibrium, sorted by decreasing real part."""
    lam = np.linalg.eigvals(jacobian(cfg))
    return lam[np.lexsort((-lam.imag, -lam.real))]


def characteristic_polynomial(cfg: DiracConfig) -> np.ndarray:
    """Coefficients [a_n, ..., a_0] of det(lambda I - J) in closed form (SD-GAN Eq. 5 for 3-d variants)."""
    eg, ed, ep, a, c = cfg.lr_g, cfg.lr_d, cfg.ema_rate, cfg.alpha, cfg.c
    if cfg.dim == 3:
        # SD-GAN Eq. 5: l^3 + (eta_G alpha + eta_phi) l^2 + eta_D eta_G c^2 l + eta_D eta_G eta_phi c^2
        return np.array([1.0, eg * a + ep, ed * eg * c**2, ed * eg * ep * c**2])
    # From R3GAN Eq. 15 with learning rates: lambda^2 + eta_D gamma lambda + eta_G eta_D c^2
    return np.array([1.0, ed * cfg.penalty, eg * ed * c**2])


def routh_hurwitz_poly(coeffs: np.ndarray) -> bool:
    """Routh-Hurwitz test (SD-GAN Eq. 6) for a real polynomial of degree 2 or 3: all roots have Re < 0."""
    coeffs = np.asarray(coeffs, dtype=float)
    if coeffs[0] < 0:
        coeffs = -coeffs
    if len(coeffs) == 3:
        return bool(np.all(coeffs > 0))  # degree 2: all coefficients positive
    if len(coeffs) == 4:
        a3, a2, a1, a0 = coeffs
        # SD-GAN Eq. 6: (i) a3, a2, a1, a0 > 0 and (ii) a2 a1 > a3 a0
        return bool(np.all(coeffs > 0) and a2 * a1 > a3 * a0)
    raise ValueError(f"only degrees 2 and 3 are supported, got degree {len(coeffs) - 1}")


def routh_hurwitz(cfg: DiracConfig) -> bool:
    """True iff the Routh-Hurwitz conditions (SD-GAN Eq. 6) hold for the characteristic polynomial (Eq. 5)."""
    return routh_hurwitz_poly(characteristic_polynomial(cfg))


def hurwitz_margin(cfg: DiracConfig) -> float:
    """a2 a1 - a3 a0 of Eq. 5; SD-GAN Eq. 6 (ii) simplifies it to eta_D eta_G^2 c^2 alpha (3-d variants)."""
    a3, a2, a1, a0 = characteristic_polynomial(cfg)
    return float(a2 * a1 - a3 * a0)


def r1_eigenvalues(cfg: DiracConfig) -> np.ndarray:
    """Closed-form eigenvalues of the 2-d systems: -eta_D g/2 +- sqrt((eta_D g)^2/4 - eta_G eta_D c^2).

    R3GAN Eq. 12 prints sqrt(gamma^2/4 - f'(0)); the root of Eq. 15's characteristic polynomial has f'(0)^2.
    """
    if cfg.dim != 2:
        raise ValueError(f"variant {cfg.variant!r} is 3-dimensional")
    b = cfg.lr_d * cfg.penalty
    disc = np.sqrt(complex(b**2 / 4.0 - cfg.lr_g * cfg.lr_d * cfg.c**2))
    return np.array([-b / 2.0 + disc, -b / 2.0 - disc])


def discrete_jacobian(cfg: DiracConfig, order: Order = "simultaneous") -> np.ndarray:
    """Jacobian at the equilibrium of one discrete update x -> step(x) (see dirac_systems.discrete_step)."""
    j = jacobian(cfg)
    eye = np.eye(cfg.dim)
    if order == "simultaneous":
        return eye + j  # forward Euler with h = 1 (learning rates already inside J)
    if order == "alternating":
        m = eye
        for i in range(cfg.dim):  # each player updates its own coordinate from the latest state
            a = eye.copy()
            a[i] += j[i]
            m = a @ m
        return m
    raise ValueError(f"unknown order {order!r}")


def numeric_discrete_jacobian(cfg: DiracConfig, order: Order = "simultaneous", h: float = 1e-6) -> np.ndarray:
    """Central finite differences of one discrete update at the equilibrium."""
    cols = []
    for i in range(cfg.dim):
        e = np.zeros(cfg.dim)
        e[i] = h
        cols.append((discrete_step(cfg, e, order) - discrete_step(cfg, -e, order)) / (2.0 * h))
    return np.stack(cols, axis=1)


def spectral_radius(cfg: DiracConfig, order: Order = "simultaneous") -> float:
    """Largest |eigenvalue| of the discrete update's Jacobian: < 1 means local convergence of the iterates."""
    return float(np.max(np.abs(np.linalg.eigvals(discrete_jacobian(cfg, order)))))
