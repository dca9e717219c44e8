import math

import pytest
import torch

from ganforge.losses import get_loss, gradient_penalty


def test_rpgan_matches_hand_computed_values():
    d_loss, g_loss = get_loss("rpgan")
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.0])
    # f(t) = -log(1 + e^-t): L_D = log(1 + exp(D(fake) - D(real)))
    assert torch.allclose(d_loss(real, fake), torch.tensor([math.log1p(math.exp(-1.5)), math.log1p(math.exp(1.0))]))
    assert torch.allclose(g_loss(real, fake), torch.tensor([math.log1p(math.exp(1.5)), math.log1p(math.exp(-1.0))]))


def test_ablation_losses():
    real, fake = torch.tensor([1.0]), torch.tensor([-1.0])
    nd, ng = get_loss("nsgan")
    assert torch.allclose(nd(real, fake), 2 * torch.tensor(math.log1p(math.exp(-1.0))))
    assert torch.allclose(ng(real, fake), torch.tensor(math.log1p(math.exp(1.0))))
    hd, hg = get_loss("hinge")
    assert hd(real, fake).item() == 0.0 and hg(real, fake).item() == 1.0
    with pytest.raises(ValueError, match="rpgan"):
        get_loss("wgan")


def test_gradient_penalty_linear_and_quadratic():
    w = torch.tensor([[1.0, -2.0, 3.0]])
    x = torch.randn(5, 3, requires_grad=True)
    assert torch.allclose(gradient_penalty((x * w).sum(1), x), torch.full((5,), 14.0))
    x2 = torch.randn(4, 3, requires_grad=True)
    # D(x) = ||x||^2 -> grad = 2x -> penalty = 4||x||^2
    assert torch.allclose(gradient_penalty(x2.square().sum(1), x2), 4 * x2.detach().square().sum(1))


def test_penalty_gradient_wrt_weights_matches_finite_differences():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)

    def penalty() -> torch.Tensor:
        return gradient_penalty(net(x).squeeze(1), x).mean()

    p = penalty()
    w = net[0].weight
    (analytic,) = torch.autograd.grad(p, w)
    eps = 1e-6
    numeric = torch.zeros_like(w)
    flat = w.data.view(-1)
    for idx in range(w.numel()):
        flat[idx] += eps
        plus = penalty().item()
        flat[idx] -= 2 * eps
        minus = penalty().item()
        flat[idx] += eps
        numeric.view(-1)[idx] = (plus - minus) / (2 * eps)
    assert torch.allclose(analytic, numeric, atol=1e-6)
