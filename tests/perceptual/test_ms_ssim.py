"""MS-SSIM: identity, monotonicity, small-image support and finite gradients."""

from __future__ import annotations

import pytest
import torch

from ganforge.perceptual.ms_ssim import ms_ssim, ms_ssim_loss, num_scales


def test_scale_count_policy():
    assert [num_scales(s) for s in (7, 16, 32, 64, 112, 256)] == [1, 2, 3, 4, 5, 5]
    with pytest.raises(ValueError, match="smaller than"):
        num_scales(6)
    with pytest.raises(ValueError, match="at least 112"):
        ms_ssim(torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64), scales=5)


@pytest.mark.parametrize("channels", [1, 3])
def test_identical_is_one_and_noise_lowers_it_monotonically(channels):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, channels, 32, 32, generator=g) * 2 - 1
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(4))
    assert ms_ssim_loss(x, x).abs().max() < 1e-6
    noise = torch.randn(x.shape, generator=g)
    values = [ms_ssim(x, (x + s * noise).clamp(-1, 1)).mean().item() for s in (0.05, 0.2, 0.8)]
    assert 1 > values[0] > values[1] > values[2] > 0
    y = (x + 0.2 * noise).clamp(-1, 1)
    torch.testing.assert_close(ms_ssim(x, y), ms_ssim(y, x))


def test_gradients_are_finite_even_at_identity():
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    for target in (x.detach().clone(), torch.zeros(2, 3, 32, 32), -x.detach()):
        x.grad = None
        ms_ssim_loss(x, target).sum().backward()
        assert torch.isfinite(x.grad).all()
