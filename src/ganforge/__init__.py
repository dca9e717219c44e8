"""ganforge: train, self-distill, compress and evaluate GANs."""

from ganforge.training.load import generate, load_generator

__version__ = "0.1.0"
__all__ = ["__version__", "generate", "load_generator"]
