"""StyleGAN2-ADA generator and discriminator in plain PyTorch (any device), with the official module names so
official snapshots load strictly (see `ganforge.interop.stylegan2.from_snapshot`)."""

from ganforge.networks.stylegan2.config import Architecture, StyleGAN2Config
from ganforge.networks.stylegan2.discriminator import Discriminator
from ganforge.networks.stylegan2.generator import Generator, MappingNetwork, SynthesisNetwork

__all__ = ["Architecture", "Discriminator", "Generator", "MappingNetwork", "StyleGAN2Config", "SynthesisNetwork"]
