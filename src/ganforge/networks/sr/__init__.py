"""Super-resolution networks with Real-ESRGAN / BasicSR module names (so official release files load strictly):
SRVGGNetCompact, RRDBNet, UNetDiscriminatorSN; their configs, weight files and tiled inference."""

from ganforge.networks.sr.config import SRDiscConfig, SRNetConfig, build_sr_discriminator, build_sr_generator
from ganforge.networks.sr.rrdb import RRDBNet
from ganforge.networks.sr.srvgg import SRVGGNetCompact
from ganforge.networks.sr.unet_disc import UNetDiscriminatorSN
from ganforge.networks.sr.weights import load_official_sr, load_sr, load_sr_weights, save_sr

__all__ = [
    "RRDBNet",
    "SRDiscConfig",
    "SRNetConfig",
    "SRVGGNetCompact",
    "UNetDiscriminatorSN",
    "build_sr_discriminator",
    "build_sr_generator",
    "load_official_sr",
    "load_sr",
    "load_sr_weights",
    "save_sr",
]
