"""Dirac-GAN dynamics (G(z) = theta, D(x) = psi * x, real data at 0): configs, vector fields, simulation.

Papers: SD-GAN Section 3 (Eq. 3, the EMA-teacher system) and R3GAN Appendix H (DiracRpGAN, Eq. 6-15).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.integrate import solve_ivp

# Variants: the deployed generator is theta for "gan"/"sd"/"r1"/"rpgan*" and the EMA generator phi for
# "ema"/"sd_ema" (Figure 2 of SD-GAN plots both for the same run: green/blue in (a), indigo/orange in (b)).
VARIANTS: tuple[str, ...] = ("gan", "ema", "sd", "sd_ema", "r1", "rpgan", "rpgan_r1r2")
SD_VARIANTS: frozenset[str] = frozenset({"sd", "sd_ema"})
EMA_VARIANTS: frozenset[str] = frozenset({"ema", "sd", "sd_ema"})
PENALTY_VARIANTS: frozenset[str] = frozenset({"r1", "rpgan_r1r2"})
F_CHOICES: tuple[str, ...] = ("linear", "logistic")
Order = Literal["simultaneous", "alternating"]
VARIANT_DEFAULTS: dict[str, float] = {"alpha": 1.0, "gamma": 1.0}  # used when alpha/gamma are left as None


def f_prime(name: str, t: np.ndarray | float) -> np.ndarray | float:
    """f'(t) of the loss f(psi*theta): linear f(t) = t (SD-GAN Sec. 3) or logistic -log(1 + e^-t)."""
    if name == "linear":
        return np.ones_like(t) if isinstance(t, np.ndarray) else 1.0
    if name == "logistic":
        return 0.5 * (1.0 - np.tanh(0.5 * np.asarray(t)))  # sigmoid(-t), overflow-free; f'(0) = 1/2
    raise ValueError(f"unknown f {name!r}; choose from {F_CHOICES}")


def f_second(name: str, t: np.ndarray | float) -> np.ndarray | float:
    """f''(t), needed by the Jacobian away from the equilibrium (R3GAN App. H Eq. 8 and 14)."""
    if name == "linear":
        return np.zeros_like(t) if isinstance(t, np.ndarray) else 0.0
    if name == "logistic":
        s = 0.5 * (1.0 - np.tanh(0.5 * np.asarray(t)))
        return -s * (1.0 - s)
    raise ValueError(f"unknown f {name!r}; choose from {F_CHOICES}")


@dataclass(frozen=True)
class DiracConfig:
    """One Dirac-GAN training setup; alpha/gamma left as None take the variant's default (0 where unused)."""

    variant: str = "gan"
    lr_g: float = 1.0  # eta_G (SD-GAN Eq. 3); also the step size of the discrete generator update
    lr_d: float = 1.0  # eta_D
    ema_rate: float = 0.1  # eta_phi = 1 - beta (SD-GAN Sec. 3), used by the variants that track phi
    alpha: float | None = None  # weight of alpha/2 (theta - phi)^2 (SD-GAN Sec. 3), SD variants only
    gamma: float | None = None  # weight of gamma/2 psi^2 per penalty (R3GAN App. H Eq. 11)
    f: str = "linear"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose from {VARIANTS}")
        if self.f not in F_CHOICES:
            raise ValueError(f"unknown f {self.f!r}; choose from {F_CHOICES}")
        for name, allowed in (("alpha", SD_VARIANTS), ("gamma", PENALTY_VARIANTS)):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, VARIANT_DEFAULTS[name] if self.variant in allowed else 0.0)
            elif value != 0.0 and self.variant not in allowed:
                raise ValueError(f"{name} is only used by variants {sorted(allowed)}, not {self.variant!r}")

    @property
    def dim(self) -> int:
        """State size: (theta, psi, phi) when the EMA generator is tracked, else (theta, psi)."""
        return 3 if self.variant in EMA_VARIANTS else 2

    @property
    def c(self) -> float:
        """c = f'(0), the only property of f that matters near the equilibrium (SD-GAN Sec. 3)."""
        return float(f_prime(self.f, 0.0))

    @property
    def penalty(self) -> float:
        """Weight on psi: R1 and R2 each reduce to gamma/2 psi^2 (R3GAN App. H Eq. 11); R1+R2 doubles it."""
        return 2.0 * self.gamma if self.variant == "rpgan_r1r2" else self.gamma

    @property
    def generator_index(self) -> int:
        """Index of the deployed generator in the state: phi for the EMA variants, else theta."""
        return 2 if self.variant in ("ema", "sd_ema") else 0

    def with_(self, **changes: float | str | None) -> DiracConfig:
        """Copy with some fields replaced (alpha/gamma re-resolved for a new variant unless given)."""
        kwargs = {k: getattr(self, k) for k in ("variant", "lr_g", "lr_d", "ema_rate", "alpha", "gamma", "f")}
        if "variant" in changes:
            kwargs.update(alpha=None, gamma=None)
        kwargs.update(changes)
        return DiracConfig(**kwargs)


def default_x0(cfg: DiracConfig, theta: float = 1.0, psi: float = 1.0) -> np.ndarray:
    """Initial state with the EMA generator starting at the active one (phi_0 = theta_0), as in practice."""
    return np.array([theta, psi, theta][: cfg.dim], dtype=float)


def vector_field(cfg: DiracConfig) -> Callable[[float, np.ndarray], np.ndarray]:
    """Gradient vector field v(t, x) of the game, usable by solve_ivp (G descends, D ascends)."""
    eta_g, eta_d, eta_phi = cfg.lr_g, cfg.lr_d, cfg.ema_rate
    alpha, penalty, f = cfg.alpha, cfg.penalty, cfg.f

    def v(t: float, x: np.ndarray) -> np.ndarray:
        theta, psi = x[0], x[1]
        phi = x[2] if cfg.dim == 3 else theta
        fp = f_prime(f, psi * theta)
        # L = f(psi*theta) (R3GAN App. H Eq. 6; GAN and RpGAN coincide since D(real) = psi * 0 = 0)
        d_theta = -eta_g * (psi * fp + alpha * (theta - phi))  # SD-GAN Eq. 3 (row 1), R3GAN Eq. 7
        d_psi = eta_d * (theta * fp - penalty * psi)  # SD-GAN Eq. 3 (row 2), R3GAN Eq. 13
        if cfg.dim == 2:
            return np.array([d_theta, d_psi])
        d_phi = eta_phi * (theta - phi)  # SD-GAN Eq. 3 (row 3): continuous-time EMA
        return np.array([d_theta, d_psi, d_phi])

    return v


@dataclass
class Trajectory:
    """Sampled states (rows) of one run with their times (ODE) or step indices (discrete)."""

    t: np.ndarray
    x: np.ndarray

    @property
    def radius(self) -> np.ndarray:
        """Euclidean distance of (theta, psi) to the equilibrium (0, 0)."""
        return np.hypot(self.x[:, 0], self.x[:, 1])


def simulate_ode(
    cfg: DiracConfig,
    x0: np.ndarray | None = None,
    t_end: float = 50.0,
    num: int = 2001,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> Trajectory:
    """Integrate the continuous-time dynamics (SD-GAN Eq. 3) with an adaptive RK45/DOP853 solver."""
    x0 = default_x0(cfg) if x0 is None else np.asarray(x0, dtype=float)
    if x0.shape != (cfg.dim,):
        raise ValueError(f"x0 must have shape ({cfg.dim},) for variant {cfg.variant!r}, got {x0.shape}")
    t_eval = np.linspace(0.0, t_end, num)
    sol = solve_ivp(vector_field(cfg), (0.0, t_end), x0, method="DOP853", t_eval=t_eval, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"ODE integration failed: {sol.message}")
    return Trajectory(t=sol.t, x=sol.y.T)


def discrete_step(cfg: DiracConfig, x: np.ndarray, order: Order = "simultaneous") -> np.ndarray:
    """One gradient step with the learning rates as step sizes (forward Euler of Eq. 3 with h = 1).

    "simultaneous": all players use the old state. "alternating": G steps, then D sees the new theta,
    then the EMA is updated from the new theta (the order of StyleGAN-style training loops).
    """
    v = vector_field(cfg)
    if order == "simultaneous":
        return x + v(0.0, x)
    if order == "alternating":
        y = np.array(x, dtype=float)
        for i in range(cfg.dim):
            y[i] = y[i] + v(0.0, y)[i]
        return y
    raise ValueError(f"unknown order {order!r}")


def simulate_discrete(
    cfg: DiracConfig, x0: np.ndarray | None = None, steps: int = 500, order: Order = "simultaneous"
) -> Trajectory:
    """Iterate discrete gradient descent/ascent for `steps` steps (states include the initial one)."""
    x = default_x0(cfg) if x0 is None else np.asarray(x0, dtype=float)
    if x.shape != (cfg.dim,):
        raise ValueError(f"x0 must have shape ({cfg.dim},) for variant {cfg.variant!r}, got {x.shape}")
    xs = np.empty((steps + 1, cfg.dim))
    xs[0] = x
    with np.errstate(over="ignore", invalid="ignore"):  # unstable settings may overflow to inf/nan
        for k in range(steps):
            xs[k + 1] = discrete_step(cfg, xs[k], order)
    return Trajectory(t=np.arange(steps + 1, dtype=float), x=xs)
