"""Stability analysis of the Dirac-GAN: SD-GAN Eq. 4-6 and R3GAN App. H Eq. 9/12/15."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganforge.theory.dirac import (
    F_CHOICES,
    VARIANTS,
    DiracConfig,
    characteristic_polynomial,
    discrete_jacobian,
    eigenvalues,
    hurwitz_margin,
    jacobian,
    jacobian_eq4,
    numeric_discrete_jacobian,
    numeric_jacobian,
    r1_eigenvalues,
    routh_hurwitz,
    routh_hurwitz_poly,
    spectral_radius,
)

# Box in which float64 eigenvalues resolve the sign of max Re(lambda): the smallest |max Re| over it is ~8e-7
# (checked by sampling 1.5e5 configs), far above the 1e-9 tolerance and eigvals' ~1e-14 rounding error.
rates = st.floats(0.05, 5.0)
ema_rates = st.floats(0.05, 1.0)  # eta_phi = 1 - beta with beta in [0, 0.95]
alphas = st.one_of(st.just(0.0), st.floats(0.05, 10.0), st.floats(-10.0, -0.05))
fs = st.sampled_from(F_CHOICES)
ZERO_TOL = 1e-9


def sd_cfg(lr_g: float, lr_d: float, ema_rate: float, alpha: float, f: str) -> DiracConfig:
    return DiracConfig(variant="sd_ema", lr_g=lr_g, lr_d=lr_d, ema_rate=ema_rate, alpha=alpha, f=f)


@settings(max_examples=300, deadline=None)
@given(rates, rates, ema_rates, alphas, fs)
def test_eigenvalues_negative_exactly_when_alpha_positive(lr_g, lr_d, ema_rate, alpha, f):
    """SD-GAN Sec. 3 claim: all Re(lambda) < 0 iff alpha > 0; alpha = 0 sits on the imaginary axis."""
    max_re = float(np.max(eigenvalues(sd_cfg(lr_g, lr_d, ema_rate, alpha, f)).real))
    if alpha > 0:
        assert max_re < -ZERO_TOL
    elif alpha == 0:
        assert abs(max_re) <= ZERO_TOL  # +-i c sqrt(eta_G eta_D): the undamped orbit
    else:
        assert max_re > ZERO_TOL


@settings(max_examples=200, deadline=None)
@given(rates, rates, ema_rates, alphas, fs)
def test_routh_hurwitz_matches_alpha_and_eigenvalues(lr_g, lr_d, ema_rate, alpha, f):
    """Eq. 6 holds iff alpha > 0, and Eq. 6 (ii) simplifies to eta_D eta_G^2 c^2 alpha > 0."""
    cfg = sd_cfg(lr_g, lr_d, ema_rate, alpha, f)
    assert routh_hurwitz(cfg) == (alpha > 0)
    expected_margin = lr_d * lr_g**2 * cfg.c**2 * alpha
    assert hurwitz_margin(cfg) == pytest.approx(expected_margin, rel=1e-9, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(rates, rates, st.floats(0.05, 10.0), st.floats(-10.0, 10.0), fs)
def test_eq5_is_the_characteristic_polynomial_of_eq4(lr_g, lr_d, ema_rate, alpha, f):
    cfg = sd_cfg(lr_g, lr_d, ema_rate, alpha, f)
    expected = np.poly(jacobian_eq4(cfg))
    np.testing.assert_allclose(characteristic_polynomial(cfg), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(jacobian(cfg), jacobian_eq4(cfg))


def test_claim_needs_positive_ema_rate():
    """With beta = 1 (eta_phi = 0, frozen teacher) lambda = 0 is a root, so alpha > 0 is not sufficient."""
    cfg = sd_cfg(0.5, 0.7, 0.0, 2.0, "linear")
    lam = eigenvalues(cfg)
    assert np.min(np.abs(lam)) < 1e-12
    assert not routh_hurwitz(cfg)
    assert np.max(lam.real) > -1e-12


@pytest.mark.parametrize("f", F_CHOICES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_numeric_jacobian_equals_analytic_at_equilibrium(variant, f):
    cfg = DiracConfig(variant=variant, lr_g=0.37, lr_d=1.3, ema_rate=0.21, f=f)
    np.testing.assert_allclose(numeric_jacobian(cfg), jacobian(cfg), atol=1e-8)
    if cfg.dim == 3:
        np.testing.assert_allclose(numeric_jacobian(cfg), jacobian_eq4(cfg), atol=1e-8)  # SD-GAN Eq. 4


def test_numeric_jacobian_equals_eq4_for_nonunit_c():
    """For logistic f, c = f'(0) = 1/2 enters Eq. 4 only through the theta-psi coupling."""
    cfg = DiracConfig(variant="sd", lr_g=2.0, lr_d=0.3, ema_rate=0.4, alpha=1.7, f="logistic")
    expected = np.array([[-2.0 * 1.7, -2.0 * 0.5, 2.0 * 1.7], [0.3 * 0.5, 0.0, 0.0], [0.4, 0.0, -0.4]])
    np.testing.assert_allclose(numeric_jacobian(cfg), expected, atol=1e-8)


@pytest.mark.parametrize("variant", ["sd", "r1", "rpgan_r1r2", "gan"])
def test_general_jacobian_matches_finite_differences_off_equilibrium(variant):
    """R3GAN Eq. 8 / Eq. 14 (with learning rates and the SD term) at random points, logistic f."""
    rng = np.random.default_rng(3)
    cfg = DiracConfig(variant=variant, lr_g=0.8, lr_d=1.1, ema_rate=0.3, f="logistic")
    for _ in range(5):
        x = rng.normal(size=cfg.dim)
        np.testing.assert_allclose(numeric_jacobian(cfg, x), jacobian(cfg, x), atol=1e-7)
        assert np.abs(jacobian(cfg, x) - jacobian(cfg)).max() > 1e-3  # really off-equilibrium


@pytest.mark.parametrize("f", F_CHOICES)
def test_unregularised_eigenvalues_are_imaginary(f):
    """R3GAN Lemma B.2: +-f'(0) i (unit rates); with rates +-i c sqrt(eta_G eta_D), plus -eta_phi for EMA."""
    for variant in ("gan", "rpgan"):
        lam = eigenvalues(DiracConfig(variant=variant, f=f))
        c = 1.0 if f == "linear" else 0.5
        np.testing.assert_allclose(np.sort_complex(lam), [-1j * c, 1j * c], atol=1e-14)
    lam = eigenvalues(DiracConfig(variant="ema", lr_g=0.2, lr_d=0.8, ema_rate=0.3, f=f))
    w = (1.0 if f == "linear" else 0.5) * np.sqrt(0.2 * 0.8)
    np.testing.assert_allclose(np.sort_complex(lam), [-0.3, -1j * w, 1j * w], atol=1e-14)


def test_r1_eigenvalues_closed_form_and_r3gan_eq12_typo():
    """R3GAN Eq. 12 prints -g/2 +- sqrt(g^2/4 - f'(0)); Eq. 15's eigenvalues have f'(0)^2 instead."""
    gamma = 0.6
    cfg = DiracConfig(variant="r1", gamma=gamma, f="logistic")  # f'(0) = 1/2, unit learning rates
    lam = np.sort_complex(eigenvalues(cfg))
    np.testing.assert_allclose(lam, np.sort_complex(r1_eigenvalues(cfg)), atol=1e-14)
    corrected = -gamma / 2 + np.array([-1, 1]) * np.sqrt(complex(gamma**2 / 4 - 0.5**2))
    printed = -gamma / 2 + np.array([-1, 1]) * np.sqrt(complex(gamma**2 / 4 - 0.5))
    np.testing.assert_allclose(lam, np.sort_complex(corrected), atol=1e-14)
    assert np.abs(lam - np.sort_complex(printed)).max() > 0.1
    assert np.max(lam.real) < 0 and routh_hurwitz(cfg)


def test_r1_plus_r2_doubles_the_damping():
    """R1 and R2 both reduce to gamma/2 psi^2 (R3GAN Eq. 11), so R1 + R2 acts like R1 with 2 gamma."""
    both = DiracConfig(variant="rpgan_r1r2", gamma=0.4, f="logistic")
    r1 = DiracConfig(variant="r1", gamma=0.8, f="logistic")
    np.testing.assert_allclose(jacobian(both), jacobian(r1))


def test_routh_hurwitz_poly_against_roots():
    rng = np.random.default_rng(0)
    for _ in range(300):
        deg = int(rng.integers(2, 4))
        roots = rng.normal(size=deg) + 0j
        if deg == 3 or rng.random() < 0.5:
            z = complex(rng.normal(), abs(rng.normal()) + 0.1)
            roots[:2] = [z, z.conjugate()]
        coeffs = np.real(np.poly(roots))
        assert routh_hurwitz_poly(coeffs) == bool(np.all(roots.real < 0))


@pytest.mark.parametrize("order", ["simultaneous", "alternating"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_discrete_jacobian_matches_finite_differences(variant, order):
    cfg = DiracConfig(variant=variant, lr_g=0.3, lr_d=0.2, ema_rate=0.1, f="logistic")
    numeric = numeric_discrete_jacobian(cfg, order)
    np.testing.assert_allclose(numeric, discrete_jacobian(cfg, order), atol=1e-8)


def test_discrete_gan_spectral_radius():
    """Simultaneous GD spirals out (|1 +- i c eta| > 1); alternating GD stays on the unit circle."""
    cfg = DiracConfig(variant="gan", lr_g=0.1, lr_d=0.1)
    assert spectral_radius(cfg, "simultaneous") == pytest.approx(np.sqrt(1 + 0.1**2), rel=1e-12)
    assert spectral_radius(cfg, "alternating") == pytest.approx(1.0, abs=1e-12)
    sd = DiracConfig(variant="sd", lr_g=0.1, lr_d=0.1, ema_rate=0.05, alpha=0.3)
    assert spectral_radius(sd, "simultaneous") < 1 and spectral_radius(sd, "alternating") < 1


def test_beta_zero_teacher_continuous_vs_discrete():
    """beta = 0 (eta_phi = 1) is stable in continuous time, but with discrete steps SD is either too weak
    (simultaneous: rho > 1) or inert (alternating: the EMA already equals the new theta, rho = 1)."""
    cfg = DiracConfig(variant="sd", lr_g=0.1, lr_d=0.1, ema_rate=1.0, alpha=0.3)
    assert routh_hurwitz(cfg) and np.max(eigenvalues(cfg).real) < 0
    assert spectral_radius(cfg, "simultaneous") > 1.0
    assert spectral_radius(cfg, "alternating") == pytest.approx(1.0, abs=1e-12)


def test_config_validation():
    with pytest.raises(ValueError, match="variant"):
        DiracConfig(variant="wgan-gp")
    with pytest.raises(ValueError, match="alpha"):
        DiracConfig(variant="gan", alpha=1.0)
    with pytest.raises(ValueError, match="gamma"):
        DiracConfig(variant="sd", gamma=1.0)
    with pytest.raises(ValueError, match=r"Eq\. 4"):
        jacobian_eq4(DiracConfig(variant="r1"))
    assert DiracConfig(variant="sd").alpha == 1.0 and DiracConfig(variant="gan").alpha == 0.0
    assert DiracConfig(variant="sd").with_(variant="gan").alpha == 0.0
