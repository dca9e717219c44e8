"""ganforge's networks: R3GAN, StyleGAN2(-ADA) and StyleGAN3 side by side, chosen by `NetworkConfig.arch`."""

from ganforge.networks.config import Arch, NetworkConfig
from ganforge.networks.discriminator import Discriminator
from ganforge.networks.generator import Generator
from ganforge.networks.registry import ARCHS, build_discriminator, build_generator, make_networks

__all__ = ["ARCHS", "Arch", "Discriminator", "Generator", "NetworkConfig", "build_discriminator", "build_generator",
           "make_networks"]
