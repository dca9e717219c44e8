"""GAN losses and gradient penalties."""

from ganforge.losses.adversarial import LOSSES, get_loss
from ganforge.losses.penalties import gradient_penalty

__all__ = ["LOSSES", "get_loss", "gradient_penalty"]
