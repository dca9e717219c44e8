"""Dirac-GAN theory (SD-GAN Section 3, Eq. 3-6; R3GAN Appendix H): one import point for the public API.

The dynamics live in dirac_systems, the stability analysis in dirac_spectrum and Figure 2 in dirac_plot.
"""

from __future__ import annotations

from ganforge.theory.dirac_plot import Figure2Config, figure2_runs, plot_figure2
from ganforge.theory.dirac_spectrum import (
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
from ganforge.theory.dirac_systems import (
    EMA_VARIANTS,
    F_CHOICES,
    PENALTY_VARIANTS,
    SD_VARIANTS,
    VARIANTS,
    DiracConfig,
    Trajectory,
    default_x0,
    discrete_step,
    f_prime,
    f_second,
    simulate_discrete,
    simulate_ode,
    vector_field,
)

__all__ = [
    "EMA_VARIANTS",
    "F_CHOICES",
    "PENALTY_VARIANTS",
    "SD_VARIANTS",
    "VARIANTS",
    "DiracConfig",
    "Figure2Config",
    "Trajectory",
    "characteristic_polynomial",
    "default_x0",
    "discrete_jacobian",
    "discrete_step",
    "eigenvalues",
    "f_prime",
    "f_second",
    "figure2_runs",
    "hurwitz_margin",
    "jacobian",
    "jacobian_eq4",
    "numeric_discrete_jacobian",
    "numeric_jacobian",
    "plot_figure2",
    "r1_eigenvalues",
    "routh_hurwitz",
    "routh_hurwitz_poly",
    "simulate_discrete",
    "simulate_ode",
    "spectral_radius",
    "vector_field",
]
