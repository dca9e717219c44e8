"""StyleGAN3 (Alias-Free GAN) generator in plain PyTorch (any device), with the official module names so official
snapshots load strictly (see `ganforge.interop.stylegan3.from_snapshot`). Its discriminator is StyleGAN2's."""

from ganforge.networks.stylegan3.config import LayerSpec, StyleGAN3Config, Variant
from ganforge.networks.stylegan3.generator import Generator, SynthesisInput, SynthesisLayer, SynthesisNetwork

__all__ = ["Generator", "LayerSpec", "StyleGAN3Config", "SynthesisInput", "SynthesisLayer", "SynthesisNetwork",
           "Variant"]
