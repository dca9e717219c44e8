"""Issue #12's compression fidelity fixes: SDAKD's offset-free critic matching and its agreement metric, DiME's
L1 summed over embedding dimensions (Eq. 1), and the paper-faithful config defaults."""

import pytest
import torch
from compress_helpers import randomize, teacher_net
from torch import nn

from ganforge.compress.config import PAPER_INIT, CompressConfig, arm_name, resolved_init, validate
from ganforge.compress.embeddings import Embedder
from ganforge.compress.nickel_dime import dime_global_loss, dime_paired_loss
from ganforge.compress.sdakd import logit_agreement, logit_matching_loss
from ganforge.compress.student import make_student
from ganforge.networks import Discriminator
from ganforge.training.overrides import ConfigError


class Shifted(nn.Module):
    """A critic whose logits carry a constant offset: RpGAN's loss and R1/R2 cannot see it."""

    def __init__(self, D: nn.Module, offset: float):
        super().__init__()
        self.D, self.offset = D, offset

    def forward(self, x, c=None):
        return self.D(x, c) + self.offset


def critics(seed: int = 2):
    D_T = randomize(Discriminator(teacher_net()), seed, 0.1).requires_grad_(False)
    D_S = randomize(make_student(D_T, 0.5), seed + 10, 0.1).requires_grad_(True)
    return D_T, D_S


def grad_of(loss: torch.Tensor, module: nn.Module) -> torch.Tensor:
    params = [p for p in module.parameters() if p.requires_grad]
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])


def test_logit_agreement_and_matching_by_hand():
    s = torch.tensor([1.0, 2.0, 3.0, 4.0])
    same = logit_agreement(s, 10 * s + 100)  # any offset and positive scale: the same ranking and spacing
    assert same["D_match_corr"] == pytest.approx(1.0) and same["D_match_sign"] == 1.0
    flipped = logit_agreement(s, s.flip(0))
    assert flipped["D_match_corr"] == pytest.approx(-1.0) and flipped["D_match_sign"] == 0.0
    # centred s = [.5, -.5, -.5, .5], t = [.5, -.5, .5, -.5]: orthogonal, two of four on the same side
    half = logit_agreement(torch.tensor([1.0, 0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert half["D_match_corr"] == pytest.approx(0.0, abs=1e-12) and half["D_match_sign"] == 0.5
    assert logit_agreement(s, torch.full((4,), 7.0))["D_match_corr"] == 0.0  # a constant critic tracks nothing
    # centred s = [-1, 0, 1], t = [-1, -1, 2]: squared differences 0, 1, 1 -> mean 2/3
    loss = logit_matching_loss(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 5.0]) + 40.0)
    assert float(loss) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="centred"):
        logit_matching_loss(s, s, "probability")


def test_centred_matching_keeps_its_gradient_under_a_teacher_offset_where_the_sigmoid_form_loses_it():
    D_T, D_S = critics()
    x = torch.randn(12, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    t0 = D_T(x)
    ref = {mode: grad_of(logit_matching_loss(D_S(x), t0, mode), D_S) for mode in ("centred", "sigmoid")}
    assert ref["centred"].norm() > 0 and ref["sigmoid"].norm() > 0
    for offset in (5.0, 20.0):
        # the teacher drifted to |logit| ~ offset; D_S sits there too (e.g. after matching it, or teacher init)
        t, student = Shifted(D_T, offset)(x), Shifted(D_S, offset)
        centred = grad_of(logit_matching_loss(student(x), t, "centred"), D_S)
        torch.testing.assert_close(centred, ref["centred"], rtol=1e-4, atol=1e-7)  # offset-free: same gradient
        sigmoid = grad_of(logit_matching_loss(student(x), t, "sigmoid"), D_S)
        assert sigmoid.norm() < 0.01 * ref["sigmoid"].norm()  # sigmoid'(5)^2 ~ 4e-5 of sigmoid'(0)^2
        # and a student without the offset gets exactly the loss it would get against the unshifted teacher
        with torch.no_grad():
            shifted_only_t, plain = logit_matching_loss(D_S(x), t, "centred"), logit_matching_loss(D_S(x), t0)
        assert float(shifted_only_t) == pytest.approx(float(plain), rel=1e-2)  # float32 rounding at |logit| 20


def test_student_critic_learns_to_track_an_offset_teacher():
    D_T, D_S = critics(3)
    teacher = Shifted(D_T, 6.0)
    x = torch.randn(16, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    t = teacher(x)
    opt = torch.optim.Adam(D_S.parameters(), lr=3e-3, betas=(0.0, 0.99))
    with torch.no_grad():
        loss0, corr0 = float(logit_matching_loss(D_S(x), t)), logit_agreement(D_S(x), t)["D_match_corr"]
    for _ in range(40):
        loss = logit_matching_loss(D_S(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss1, corr1 = float(logit_matching_loss(D_S(x), t)), logit_agreement(D_S(x), t)["D_match_corr"]
    assert loss1 < 0.5 * loss0
    assert corr1 > max(corr0 + 0.2, 0.7)


class Flatten(Embedder):
    name = "flatten"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)


def test_dime_losses_sum_over_embedding_dimensions_by_hand():
    phi = Flatten()
    student = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]]).view(2, 1, 2, 2)
    teacher = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]).view(2, 1, 2, 2)
    # per z: |1|+|2|+|3|+|4| = 10 and 4 x |-1| = 4; mean over z = 7 (a mean over dimensions would give 1.75)
    assert float(dime_paired_loss(phi, student, teacher)) == pytest.approx(7.0)
    # batch mean [0.5, 1, 1.5, 2], second moment [0.5, 2, 4.5, 8]; teacher moments 0 and 1 everywhere
    stats = {"mean": torch.zeros(4), "m2": torch.ones(4)}
    assert float(dime_global_loss(phi, student, stats)) == pytest.approx(5.0 + (0.5 + 1 + 3.5 + 7))


def test_config_defaults_follow_the_papers_and_label_other_arms():
    cfg = CompressConfig()
    assert cfg.method == "sdakd" and resolved_init(cfg) == "random" and arm_name(cfg) == "sdakd"
    cfg.init = "teacher"
    assert arm_name(cfg) == "sdakd+teacher-init"
    assert arm_name(CompressConfig(method="kd")) == "kd" and PAPER_INIT["nickel-dime"] == "teacher"
    assert arm_name(CompressConfig(method="nickel-dime", init="random")) == "nickel-dime+random-init"
    assert cfg.sdakd.d_match == "centred" and cfg.eval_metric == "auto"
    assert cfg.nickel.dime_mode == "global-moments-ext"
    cfg.nickel.dime_mode = "global"  # the old name: the extension is now named as one
    with pytest.raises(ConfigError, match="global-moments-ext, paired"):
        validate(cfg)
    with pytest.raises(ConfigError, match="init"):
        CompressConfig(init="pretrained")
