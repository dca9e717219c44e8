"""The architectures ganforge builds, side by side and chosen by `net.arch`: R3GAN, StyleGAN2(-ADA) and StyleGAN3
(whose discriminator is StyleGAN2's, as in the official code). Every builder takes the NetworkConfig and returns
networks with ganforge's call convention (G(z, c) -> image, D(x, c) -> logits [N])."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

from torch import nn

from ganforge.networks.config import Arch, NetworkConfig

__all__ = ["ARCHS", "ArchSpec", "build_discriminator", "build_generator", "make_networks"]


@dataclass(frozen=True)
class ArchSpec:
    """Builders of one architecture's generator and discriminator from a NetworkConfig."""

    generator: Callable[[NetworkConfig], nn.Module]
    discriminator: Callable[[NetworkConfig], nn.Module]


def _r3gan_g(net: NetworkConfig) -> nn.Module:
    from ganforge.networks.generator import Generator

    return Generator(net)


def _r3gan_d(net: NetworkConfig) -> nn.Module:
    from ganforge.networks.discriminator import Discriminator

    return Discriminator(net)


def _stylegan2_g(net: NetworkConfig) -> nn.Module:
    from ganforge.networks.adapters import StyleGAN2Generator

    return StyleGAN2Generator(net, net.stylegan_configs()[0])  # type: ignore[arg-type]


def _stylegan3_g(net: NetworkConfig) -> nn.Module:
    from ganforge.networks.adapters import StyleGAN3Generator

    return StyleGAN3Generator(net, net.stylegan_configs()[0])  # type: ignore[arg-type]


def _stylegan_d(net: NetworkConfig) -> nn.Module:
    from ganforge.networks.adapters import StyleGANDiscriminator

    return StyleGANDiscriminator(net, net.stylegan_configs()[1])


ARCHS: dict[str, ArchSpec] = {
    "r3gan": ArchSpec(_r3gan_g, _r3gan_d),
    "stylegan2": ArchSpec(_stylegan2_g, _stylegan_d),
    "stylegan3": ArchSpec(_stylegan3_g, _stylegan_d),
}
assert set(ARCHS) == set(get_args(Arch)), "every net.arch choice needs builders"


def _spec(net: NetworkConfig) -> ArchSpec:
    if net.arch not in ARCHS:
        raise ValueError(f"net.arch must be one of {', '.join(ARCHS)}, got {net.arch!r}")
    return ARCHS[net.arch]


def build_generator(net: NetworkConfig) -> nn.Module:
    """The generator net.arch names, built from `net`."""
    return _spec(net).generator(net)


def build_discriminator(net: NetworkConfig) -> nn.Module:
    """The discriminator net.arch names, built from `net`."""
    return _spec(net).discriminator(net)


def make_networks(net: NetworkConfig) -> tuple[nn.Module, nn.Module]:
    """A generator/discriminator pair of the architecture net.arch names."""
    return build_generator(net), build_discriminator(net)
