"""`ganforge dirac`: draw SD-GAN Figure 2 and print the Dirac-GAN Jacobian eigenvalues per variant."""

from __future__ import annotations

import argparse

import numpy as np

from ganforge.cli.args import at_most, non_negative_float, output_with_suffix, positive_float, rate
from ganforge.errors import UserError
from ganforge.limits import hint, limit
from ganforge.theory.dirac import (
    F_CHOICES,
    PENALTY_VARIANTS,
    SD_VARIANTS,
    VARIANTS,
    DiracConfig,
    Figure2Config,
    eigenvalues,
    plot_figure2,
    routh_hurwitz,
    spectral_radius,
)

MAX_RATE = 1000.0  # rates and loss weights far past any stable setting; keeps the spectra finite
learning_rate = at_most(positive_float, MAX_RATE)
loss_weight = at_most(non_negative_float, MAX_RATE)


def _figure_suffixes() -> set[str]:
    from matplotlib.backend_bases import FigureCanvasBase

    return {f".{ext}" for ext in FigureCanvasBase.get_supported_filetypes()}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dirac` sub-command."""
    p = subparsers.add_parser("dirac", help="Dirac-GAN stability analysis and SD-GAN Figure 2.")
    p.add_argument("--out", type=output_with_suffix(_figure_suffixes, ".png"), default="dirac_figure2.png",
                   help="PNG path for Figure 2 (or .pdf, .svg, ...)")
    p.add_argument("--variant", action="append", choices=VARIANTS,
                   help="variant for the eigenvalue table (repeatable; default: all)")
    p.add_argument("--lr-g", type=learning_rate, default=0.1, help="generator learning rate eta_G")
    p.add_argument("--lr-d", type=learning_rate, default=0.1, help="discriminator learning rate eta_D")
    p.add_argument("--ema-rate", type=rate, default=0.05, help="EMA update rate eta_phi = 1 - beta, in (0, 1]")
    p.add_argument("--alpha", type=loss_weight, default=0.3, help="self-distillation weight (sd, sd_ema)")
    p.add_argument("--gamma", type=loss_weight, default=1.0, help="R1/R2 weight (r1, rpgan_r1r2)")
    p.add_argument("--f", choices=F_CHOICES, default="linear", help="adversarial loss f(psi*theta)")
    p.add_argument("--t-end", type=positive_float, default=300.0, help="time horizon (steps in discrete mode)")
    p.add_argument("--mode", choices=("ode", "discrete"), default="ode", help="time model of the figure")
    p.add_argument("--order", choices=("simultaneous", "alternating"), default="simultaneous",
                   help="update order in discrete mode")
    p.set_defaults(func=run)


def _num(x: float) -> str:
    """Signed 4-decimal number without a negative zero."""
    return f"{x:+.4f}".replace("-0.0000", "+0.0000")


def _fmt(z: complex) -> str:
    """Complex number as a fixed-width string."""
    return f"{_num(z.real)}{_num(z.imag)}j"


def eigen_table(cfgs: list[DiracConfig]) -> str:
    """Plain-text table: continuous eigenvalues, Routh-Hurwitz verdict, discrete spectral radii."""
    head = f"{'variant':<11} {'G':<9} {'eigenvalues of J at the equilibrium':<51} {'max Re':>8} {'RH':>5} " \
           f"{'rho_sim':>8} {'rho_alt':>8}"
    lines = [head, "-" * len(head)]
    for cfg in cfgs:
        lam = eigenvalues(cfg)
        eig = ", ".join(_fmt(z) for z in lam)
        gen = "theta_EMA" if cfg.generator_index == 2 else "theta"
        rho_sim, rho_alt = spectral_radius(cfg, "simultaneous"), spectral_radius(cfg, "alternating")
        lines.append(f"{cfg.variant:<11} {gen:<9} {eig:<51} {_num(float(np.max(lam.real))):>8} "
                     f"{routh_hurwitz(cfg)!s:>5} "
                     f"{rho_sim:>8.4f} {rho_alt:>8.4f}")
    return "\n".join(lines)


def check_simulation_size(args: argparse.Namespace) -> None:
    """Refuse a simulation that would hold more than GANFORGE_MAX_SIM_STEPS states, or (ode mode) whose
    stiffness, ~ t_end x the fastest rate, would keep the adaptive solver busy for hours."""
    states = round(args.t_end) if args.mode == "discrete" else 10 * args.t_end
    if args.mode == "discrete" and states < 1:
        raise UserError(f"--t-end {args.t_end:g}: discrete mode takes at least 1 step; use e.g. --t-end 300")
    if states > limit("MAX_SIM_STEPS"):
        raise UserError(f"--t-end {args.t_end:g}: {states:.3g} simulated states; lower --t-end or "
                        f"{hint('MAX_SIM_STEPS')}")
    stiffness = args.t_end * max(args.lr_g, args.lr_d) * max(1.0, args.alpha, args.gamma)
    if args.mode == "ode" and stiffness > limit("MAX_SIM_STEPS") / 10:
        raise UserError(f"--t-end {args.t_end:g} with rates up to {max(args.lr_g, args.lr_d):g} (x "
                        f"{max(1.0, args.alpha, args.gamma):g}): too stiff to integrate in reasonable time; lower "
                        f"--t-end or the rates, use --mode discrete, or {hint('MAX_SIM_STEPS')}")


def run(args: argparse.Namespace) -> int:
    """Write the figure, then print the eigenvalue table."""
    check_simulation_size(args)
    shared = {"lr_g": args.lr_g, "lr_d": args.lr_d, "ema_rate": args.ema_rate, "f": args.f}
    fig_cfg = Figure2Config(alpha=args.alpha, t_end=args.t_end, mode=args.mode, order=args.order, **shared)
    try:
        runs = plot_figure2(args.out, fig_cfg)
    except RuntimeError as e:  # the ODE solver gave up (simulate_ode)
        raise UserError(f"{e}; lower the rates or --t-end, or use --mode discrete") from e
    cfgs = [
        DiracConfig(
            variant=v,
            alpha=args.alpha if v in SD_VARIANTS else None,
            gamma=args.gamma if v in PENALTY_VARIANTS else None,
            **shared,
        )
        for v in (args.variant or VARIANTS)
    ]
    r_gan, r_sd = runs["ema"].radius, runs["sd_ema"].radius
    print(f"wrote {args.out}: |(theta, psi)| GAN {r_gan[0]:.3f} -> {r_gan[-1]:.3g}, "
          f"SD-GAN {r_sd[0]:.3f} -> {r_sd[-1]:.3g} ({args.mode})")
    print(eigen_table(cfgs))
    print("G = deployed generator (the dynamics of gan/ema and sd/sd_ema are identical); "
          "RH = Routh-Hurwitz (SD-GAN Eq. 6) holds;\nrho = spectral radius of one discrete step "
          "(simultaneous / alternating updates), < 1 means the iterates converge locally.")
    return 0
