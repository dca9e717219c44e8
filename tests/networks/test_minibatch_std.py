"""Minibatch standard deviation in D (ProGAN Sec. 3): batch-aware within a group, never across real and fake."""

import dataclasses

import pytest
import torch
from helpers import tiny_net

from ganforge.networks import Discriminator
from ganforge.networks.layers import MinibatchStd


def test_statistic_is_the_mean_feature_std_of_each_group():
    x = torch.randn(8, 3, 4, 4)
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)
    for g in range(2):
        expected = x[4 * g:4 * g + 4].std(dim=0, unbiased=False).mean()
        torch.testing.assert_close(out[4 * g:4 * g + 4, 3], expected.expand(4, 4, 4), rtol=1e-4, atol=1e-6)


def test_indivisible_batch_names_the_fix():
    with pytest.raises(ValueError, match="mbstd_group"):
        MinibatchStd(4)(torch.randn(6, 2, 4, 4))


def test_discriminator_sees_diversity_but_reals_never_mix_with_fakes():
    torch.manual_seed(0)
    D = Discriminator(dataclasses.replace(tiny_net(), mbstd_group=4)).eval()
    for p in D.parameters():  # fix-up zero inits would hide the statistic's effect
        torch.nn.init.normal_(p, std=0.3)
    real, fake = torch.randn(8, 1, 32, 32), torch.randn(8, 1, 32, 32)
    with torch.no_grad():
        logits = D(torch.cat([real, fake]))
        other_fakes = D(torch.cat([real, fake.flip(0) * 3]))
        changed_neighbour = D(torch.cat([real[:1], real[1:] * 2, fake]))
    torch.testing.assert_close(logits[:8], other_fakes[:8])  # the real half is untouched by any fake
    assert not torch.allclose(logits[8:], other_fakes[8:])
    # sample 0 itself is unchanged, yet its logit moves because its group's spread did
    assert not torch.allclose(logits[0], changed_neighbour[0])


def test_packed_discriminator_says_when_a_joint_pass_would_mix_halves():
    D = Discriminator(dataclasses.replace(tiny_net(), mbstd_group=4, pack=4))
    assert D.joint_pass_keeps_halves_apart(16)  # 4 packs per half: one whole group each
    assert not D.joint_pass_keeps_halves_apart(8)  # 2 packs per half: a group of 4 would straddle
    assert Discriminator(tiny_net()).joint_pass_keeps_halves_apart(8)  # no minibatch-std: nothing to mix


def test_discriminator_loss_keeps_real_logits_free_of_fakes_at_small_batches():
    from ganforge.losses import get_loss
    from ganforge.training.steps import discriminator_loss, joint_pass_ok

    torch.manual_seed(0)
    D = Discriminator(dataclasses.replace(tiny_net(), mbstd_group=4, pack=4))
    for p in D.parameters():
        torch.nn.init.normal_(p, std=0.3)
    real, fake = torch.randn(8, 1, 32, 32), torch.randn(8, 1, 32, 32)
    loss_d, _ = get_loss("rpgan")
    joint = joint_pass_ok(D, len(real))
    assert not joint
    _, _, real_a, _ = discriminator_loss(D, real, fake, None, loss_d, 1.0, False, False, joint=joint)
    _, _, real_b, _ = discriminator_loss(D, real, fake * 3, None, loss_d, 1.0, False, False, joint=joint)
    torch.testing.assert_close(real_a, real_b)
    _, _, mixed_a, _ = discriminator_loss(D, real, fake, None, loss_d, 1.0, False, False, joint=True)
    _, _, mixed_b, _ = discriminator_loss(D, real, fake * 3, None, loss_d, 1.0, False, False, joint=True)
    assert not torch.allclose(mixed_a, mixed_b)  # what the check prevents: one group held reals and fakes
