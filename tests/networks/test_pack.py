"""PacGAN packing in D (Lin et al. 2018): one logit per pack of consecutive samples, penalties per pack."""

import dataclasses

import pytest
import torch
from helpers import tiny_dataset, tiny_net, tiny_train_config

from ganforge.losses import gradient_penalty
from ganforge.networks import Discriminator
from ganforge.training import Trainer
from ganforge.training.overrides import ConfigError


def _packed_d(pack: int) -> Discriminator:
    torch.manual_seed(0)
    D = Discriminator(dataclasses.replace(tiny_net(), pack=pack)).eval()
    for p in D.parameters():  # fix-up zero inits would make every logit equal
        torch.nn.init.normal_(p, std=0.3)
    return D


def test_a_pack_is_its_consecutive_samples_on_the_channel_axis():
    D = _packed_d(2)
    assert D.from_rgb.weight.shape[1] == 2
    x = torch.randn(6, 1, 32, 32)
    unpacked = Discriminator(tiny_net(channels=2)).eval()
    unpacked.load_state_dict(D.state_dict())
    with torch.no_grad():
        logits = D(x)
        expected = unpacked(torch.cat([x[0::2], x[1::2]], dim=1))
        swapped = D(x[[1, 0, 2, 3, 4, 5]])
    assert logits.shape == (3,)
    torch.testing.assert_close(logits, expected)
    assert not torch.allclose(logits[0], swapped[0]) and torch.equal(logits[1:], swapped[1:])


def test_penalty_of_a_pack_is_the_sum_over_its_samples():
    D = _packed_d(2)
    x = torch.randn(4, 1, 32, 32, requires_grad=True)
    per_sample = gradient_penalty(D(x), x)
    packed = x.detach().reshape(2, 2, 32, 32).requires_grad_(True)
    unpacked = Discriminator(tiny_net(channels=2)).eval()
    unpacked.load_state_dict(D.state_dict())
    per_pack = gradient_penalty(unpacked(packed), packed)
    torch.testing.assert_close(per_sample.view(2, 2).sum(1), per_pack)


def test_packing_trains_and_checks_its_inputs(tmp_path):
    cfg = tiny_train_config(str(tmp_path / "pack"))
    cfg.net.pack = 2
    t = Trainer(cfg, dataset=tiny_dataset(32))
    terms = t.train_step()
    assert all(torch.isfinite(torch.tensor(terms[k])) for k in ("loss_D", "loss_G", "R1", "R2", "grad_D"))
    assert terms["R1"] > 0 and terms["R2"] > 0
    with pytest.raises(ValueError, match=r"net\.pack"):
        t.D(torch.randn(3, 1, 32, 32))
    bad = tiny_train_config(str(tmp_path / "odd"), batch_size=6)
    bad.net.pack = 4
    with pytest.raises(ConfigError, match=r"net\.pack"):
        Trainer(bad, dataset=tiny_dataset(32))


def test_a_conditional_pack_is_judged_under_its_one_label():
    torch.manual_seed(0)
    D = Discriminator(dataclasses.replace(tiny_net(num_classes=3), pack=2)).eval()
    for p in D.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        logits = D(x, torch.tensor([2, 2, 0, 0]))
        relabelled = D(x, torch.tensor([1, 1, 0, 0]))
    assert logits.shape == (2,)
    assert not torch.allclose(logits[0], relabelled[0]) and torch.equal(logits[1], relabelled[1])
    with pytest.raises(ValueError, match="share one label"):
        D(x, torch.tensor([2, 1, 0, 0]))


def test_conditional_packing_trains_on_batches_grouped_by_class(tmp_path):
    cfg = tiny_train_config(str(tmp_path / "cpack"))
    cfg.net, cfg.conditional = dataclasses.replace(tiny_net(num_classes=4), pack=2), True
    t = Trainer(cfg, dataset=tiny_dataset(40, num_classes=4))
    for _ in range(3):
        _, c = t.sampler.next()
        assert torch.equal(c[0::2], c[1::2])
    terms = t.train_step()
    assert all(torch.isfinite(torch.tensor(terms[k])) for k in ("loss_D", "loss_G", "R1", "R2"))
    assert t._grid_nrow == 4 and torch.equal(t._grid_c, torch.arange(4))  # the sample grid: a column per class
