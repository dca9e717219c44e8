"""R3GAN Config E networks and their configuration."""

from ganforge.networks.config import NetworkConfig
from ganforge.networks.discriminator import Discriminator
from ganforge.networks.generator import Generator


def make_networks(cfg: NetworkConfig) -> tuple[Generator, Discriminator]:
    """Build a generator/discriminator pair from one shape configuration."""
    return Generator(cfg), Discriminator(cfg)


__all__ = ["Discriminator", "Generator", "NetworkConfig", "make_networks"]
