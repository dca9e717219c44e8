"""SD-GAN Figure 2: Dirac-GAN trajectories of theta, theta_EMA and psi, without (a) and with (b) SD."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ganforge.theory.dirac_systems import (
    DiracConfig,
    Order,
    Trajectory,
    simulate_discrete,
    simulate_ode,
    vector_field,
)


@dataclass(frozen=True)
class Figure2Config:
    """Settings of Figure 2: shared rates, the SD weight of panel (b), horizon and time model."""

    lr_g: float = 0.1
    lr_d: float = 0.1
    ema_rate: float = 0.05
    alpha: float = 0.3
    f: str = "linear"
    t_end: float = 300.0  # continuous time, or number of steps when mode == "discrete"
    mode: str = "ode"  # "ode" (SD-GAN Eq. 3 integrated) or "discrete" (gradient steps)
    order: Order = "simultaneous"  # discrete update order

    def configs(self) -> dict[str, DiracConfig]:
        """The two runs: plain GAN with a tracked EMA (panel a) and SD-GAN with an EMA teacher (panel b)."""
        shared = {"lr_g": self.lr_g, "lr_d": self.lr_d, "ema_rate": self.ema_rate, "f": self.f}
        return {"ema": DiracConfig(variant="ema", **shared),
                "sd_ema": DiracConfig(variant="sd_ema", alpha=self.alpha, **shared)}


def figure2_runs(fig_cfg: Figure2Config) -> dict[str, Trajectory]:
    """Simulate the runs behind Figure 2 (state columns: theta, psi, theta_EMA)."""
    runs = {}
    for name, cfg in fig_cfg.configs().items():
        if fig_cfg.mode == "ode":
            runs[name] = simulate_ode(cfg, t_end=fig_cfg.t_end, num=max(2001, int(10 * fig_cfg.t_end)))
        elif fig_cfg.mode == "discrete":
            runs[name] = simulate_discrete(cfg, steps=round(fig_cfg.t_end), order=fig_cfg.order)
        else:
            raise ValueError(f"unknown mode {fig_cfg.mode!r}; choose 'ode' or 'discrete'")
    return runs


def _quiver(ax: plt.Axes, cfg: DiracConfig, phi: float, lim: float) -> None:
    """Draw the (theta, psi) part of the gradient vector field with the EMA generator frozen at phi."""
    grid = np.linspace(-lim, lim, 15)
    th, ps = np.meshgrid(grid, grid)
    v = vector_field(cfg)
    uv = np.array([v(0.0, np.array([a, b, phi]))[:2] for a, b in zip(th.ravel(), ps.ravel())])
    norm = np.hypot(uv[:, 0], uv[:, 1]) + 1e-12
    ax.quiver(th, ps, (uv[:, 0] / norm).reshape(th.shape), (uv[:, 1] / norm).reshape(th.shape),
              color="0.75", angles="xy", width=0.003)


def plot_figure2(out_png: str | Path, fig_cfg: Figure2Config | None = None) -> dict[str, Trajectory]:
    """Write SD-GAN Figure 2 to out_png: (a) cycling orbit of GAN/EMA, (b) contracting spiral with SD.

    Returns the simulated runs {"ema": ..., "sd_ema": ...} so callers can check what was drawn.
    """
    fig_cfg = Figure2Config() if fig_cfg is None else fig_cfg
    cfgs = fig_cfg.configs()
    runs = figure2_runs(fig_cfg)
    r0 = max(float(np.abs(r.x[0, :2]).max()) for r in runs.values())
    finite = [np.abs(r.x[:, :2][np.isfinite(r.x[:, :2])]) for r in runs.values()]
    lim = min(1.15 * max(float(a.max()) for a in finite), 10.0 * r0)  # diverging discrete runs are clipped
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    panels = (
        ("ema", "(a) GAN with EMA generator", ("tab:green", "tab:blue")),
        ("sd_ema", "(b) SD-GAN (EMA teacher)", ("indigo", "tab:orange")),
    )
    for ax, (name, title, (c_theta, c_ema)) in zip(axes, panels):
        run = runs[name]
        cfg = cfgs[name]
        _quiver(ax, cfg, phi=float(run.x[-1, 2]), lim=lim)  # field at the final theta_EMA, as in the paper
        ax.plot(run.x[:, 0], run.x[:, 1], color=c_theta, lw=1.4, label=r"$(\theta, \psi)$ active G")
        ax.plot(run.x[:, 2], run.x[:, 1], color=c_ema, lw=1.4, label=r"$(\theta_{EMA}, \psi)$ EMA G")
        ax.plot(run.x[0, 0], run.x[0, 1], "ko", ms=5, label="start")
        ax.plot(0.0, 0.0, marker="*", color="red", ms=13, ls="none", label="Nash equilibrium")
        label = f"alpha={cfg.alpha:g}, " if cfg.alpha else ""
        r = run.radius
        rates = f"lr_G={cfg.lr_g:g}, lr_D={cfg.lr_d:g}, ema_rate={cfg.ema_rate:g}, f={cfg.f}, {fig_cfg.mode}"
        ax.set_title(f"{title}: |(theta, psi)| {r[0]:.3g} -> {r[-1]:.3g}\n{label}{rates}", fontsize=10)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel(r"generator $\theta$")
        ax.set_ylabel(r"discriminator $\psi$")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return runs
