"""Trajectories of the Dirac-GAN: orbit conservation (R3GAN Lemma B.3), SD damping (SD-GAN Sec. 3)."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.theory.dirac import (
    F_CHOICES,
    DiracConfig,
    discrete_jacobian,
    eigenvalues,
    simulate_discrete,
    simulate_ode,
    spectral_radius,
    vector_field,
)


@pytest.mark.parametrize("f", F_CHOICES)
@pytest.mark.parametrize("variant", ["gan", "ema", "rpgan"])
def test_unregularised_ode_conserves_orbit_radius(variant, f):
    """theta^2 + psi^2 is constant along integral curves (R3GAN Eq. 10), also with a tracked EMA."""
    cfg = DiracConfig(variant=variant, f=f)
    x0 = np.array([0.8, -1.3, 0.8][: cfg.dim])
    traj = simulate_ode(cfg, x0, t_end=60.0, num=601)
    r = traj.radius
    assert np.ptp(traj.x[:, 0]) > 1.5  # it really moves (several revolutions) ...
    np.testing.assert_allclose(r, r[0], rtol=1e-7)  # ... on a circle


def test_unequal_rates_conserve_weighted_radius():
    """With eta_G != eta_D the invariant is eta_D theta^2 + eta_G psi^2 (an ellipse), not the radius."""
    cfg = DiracConfig(variant="gan", lr_g=0.5, lr_d=2.0, f="logistic")
    x = simulate_ode(cfg, np.array([1.0, 0.5]), t_end=40.0, num=401).x
    invariant = 2.0 * x[:, 0] ** 2 + 0.5 * x[:, 1] ** 2
    np.testing.assert_allclose(invariant, invariant[0], rtol=1e-7)
    radius = np.hypot(x[:, 0], x[:, 1])
    assert np.ptp(radius) > 0.3


def test_ema_orbit_is_narrower_but_not_convergent():
    """SD-GAN Fig. 2a: the EMA generator orbits closer to 0 than theta but does not converge."""
    cfg = DiracConfig(variant="ema", lr_g=0.1, lr_d=0.1, ema_rate=0.05)
    x = simulate_ode(cfg, t_end=600.0, num=6001).x
    late = x[3000:]
    assert np.abs(late[:, 2]).max() < 0.6 * np.abs(late[:, 0]).max()
    assert np.abs(late[:, 2]).max() > 0.3  # still cycling with a finite amplitude


@pytest.mark.parametrize("f", F_CHOICES)
def test_sd_ode_contracts_at_the_predicted_rate(f):
    """With alpha > 0 the orbit shrinks to the Nash equilibrium at rate max Re(lambda) of Eq. 4."""
    cfg = DiracConfig(variant="sd_ema", lr_g=0.5, lr_d=0.5, ema_rate=0.2, alpha=0.8, f=f)
    traj = simulate_ode(cfg, t_end=200.0, num=2001)
    r = traj.radius
    assert r[-1] < 1e-2 * r[0]
    rate = np.max(eigenvalues(cfg).real)
    tail = slice(1000, None)  # fit log|x| after transients
    slope = np.polyfit(traj.t[tail], np.log(np.linalg.norm(traj.x[tail], axis=1)), 1)[0]
    assert slope == pytest.approx(rate, rel=0.1)


def test_negative_alpha_diverges():
    cfg = DiracConfig(variant="sd", lr_g=0.5, lr_d=0.5, ema_rate=0.2, alpha=-0.3)
    r = simulate_ode(cfg, t_end=80.0, num=801).radius
    assert r[-1] > 5 * r[0]


@pytest.mark.parametrize("order", ["simultaneous", "alternating"])
@pytest.mark.parametrize("variant", ["gan", "sd", "r1"])
def test_discrete_growth_matches_spectral_radius(variant, order):
    """Linear f: the iterates are powers of the discrete Jacobian, growing like rho^k."""
    cfg = DiracConfig(variant=variant, lr_g=0.2, lr_d=0.2, ema_rate=0.1, alpha=None, gamma=None)
    steps = 400
    traj = simulate_discrete(cfg, steps=steps, order=order)
    m = discrete_jacobian(cfg, order)
    expected = np.linalg.matrix_power(m, steps) @ traj.x[0]
    np.testing.assert_allclose(traj.x[-1], expected, rtol=1e-8, atol=1e-12)
    rho = spectral_radius(cfg, order)
    growth = np.linalg.norm(traj.x[-1]) / np.linalg.norm(traj.x[-101])
    assert growth ** (1 / 100) == pytest.approx(rho, rel=2e-2)


def test_simultaneous_gan_spirals_out_alternating_stays_bounded():
    """Simultaneous steps: r_{k+1}^2 = r_k^2 (1 + (eta f'(psi_k theta_k))^2) exactly (orthogonal step)."""
    cfg = DiracConfig(variant="gan", lr_g=0.1, lr_d=0.1, f="logistic")
    traj = simulate_discrete(cfg, steps=1000, order="simultaneous")
    sim = traj.radius
    fp = 0.5 * (1 - np.tanh(0.5 * traj.x[:-1, 0] * traj.x[:-1, 1]))
    np.testing.assert_allclose(sim[1:] ** 2, sim[:-1] ** 2 * (1 + (0.1 * fp) ** 2), rtol=1e-12)
    assert sim[-1] > 1.5 * sim[0]
    alt = simulate_discrete(cfg, steps=1000, order="alternating").radius
    assert alt.max() < 1.2 * alt[0] and alt.min() > 0.8 * alt[0]


def test_discrete_is_euler_of_the_ode_field():
    cfg = DiracConfig(variant="sd", lr_g=0.3, lr_d=0.4, ema_rate=0.2, alpha=0.5, f="logistic")
    x0 = np.array([0.7, -0.2, 0.1])
    step = simulate_discrete(cfg, x0, steps=1).x[1]
    np.testing.assert_allclose(step, x0 + vector_field(cfg)(0.0, x0))


def test_small_steps_track_the_ode():
    """Discrete GD with learning rates scaled by h approaches the ODE at time k h as h -> 0."""
    cfg = DiracConfig(variant="sd", lr_g=1.0, lr_d=1.0, ema_rate=0.5, alpha=0.5)
    h, t_end = 1e-3, 5.0
    small = DiracConfig(variant="sd", lr_g=h, lr_d=h, ema_rate=0.5 * h, alpha=0.5)
    disc = simulate_discrete(small, steps=int(t_end / h)).x[-1]
    ode = simulate_ode(cfg, t_end=t_end, num=2).x[-1]
    np.testing.assert_allclose(disc, ode, atol=5e-3)
    assert np.linalg.norm(disc - simulate_discrete(small, steps=int(t_end / h) - 500).x[-1]) > 0.05


def test_bad_initial_state_shape():
    with pytest.raises(ValueError, match="shape"):
        simulate_ode(DiracConfig(variant="gan"), np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        simulate_discrete(DiracConfig(variant="sd"), np.zeros(2))
