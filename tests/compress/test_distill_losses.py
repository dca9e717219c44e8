"""Every loss term on tiny models: shapes, values, and which parameters its gradient reaches."""

import pytest
import torch
from compress_helpers import batch, changed, make_setup, randomize, snapshot, teacher_net

from ganforge.compress.common import SupervisedLoss
from ganforge.compress.config import SupConfig
from ganforge.compress.embeddings import build_embedder
from ganforge.compress.kd import KDMethod
from ganforge.compress.mlp_distill import FeatureMLP, mlp_distill_loss
from ganforge.compress.nickel_dime import (
    NickelDimeMethod,
    NickelProjector,
    dime_global_loss,
    dime_paired_loss,
    nickel_loss,
    parse_embeddings,
)
from ganforge.compress.sdakd import SDAKDMethod, critic_matching
from ganforge.compress.student import make_student
from ganforge.compress.wavelet import wavelet_loss
from ganforge.networks import Discriminator, Generator
from ganforge.perceptual import LPIPS


def grads(module: torch.nn.Module) -> list[bool]:
    """Per parameter: did it receive a non-zero gradient?"""
    return [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters()]


def test_mlp_maps_student_width_to_teacher_width_and_only_trains_student_side():
    G_T = randomize(Generator(teacher_net())).requires_grad_(True)
    G_S = make_student(G_T, 0.25).requires_grad_(True)
    mlp = FeatureMLP(G_S.widths[-1], G_T.widths[-1])
    assert mlp.net[0].weight.shape == (16, 4, 1, 1) and mlp.net[2].weight.shape == (16, 16, 1, 1)
    z = torch.randn(3, 8)
    _, f_t = G_T(z, return_features=True)
    _, f_s = G_S(z, return_features=True)
    assert mlp(f_s[-1]).shape == f_t[-1].shape == (3, 16, 32, 32)
    loss = mlp_distill_loss(mlp, f_s[-1], f_t[-1])
    assert float(loss.detach()) == pytest.approx(float(((mlp(f_s[-1]) - f_t[-1]) ** 2).mean().detach()), rel=1e-5)
    loss.backward()
    assert all(grads(mlp)) and any(grads(G_S)) and not any(grads(G_T))
    with pytest.raises(ValueError):
        mlp_distill_loss(mlp, f_t[-1], f_t[-1])


@pytest.mark.parametrize("mode", ["centred", "sigmoid"])
def test_critic_matching_trains_the_student_critic_only(mode):
    D_T = randomize(Discriminator(teacher_net()), 2, 0.1).requires_grad_(True)
    D_S = make_student(D_T, 0.5).requires_grad_(True)
    x = torch.randn(6, 1, 32, 32)
    loss, terms = critic_matching(D_S, D_T, x, None, mode)
    s, t = D_S(x), D_T(x)
    expected = (((s - s.mean()) - (t - t.mean())) ** 2 if mode == "centred"
                else (torch.sigmoid(s) - torch.sigmoid(t)) ** 2).mean()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert set(terms) == {"L_D_match", "D_match_corr", "D_match_sign"}
    loss.backward()
    assert any(grads(D_S)) and not any(grads(D_T))
    same, terms = critic_matching(D_T, D_T, x, None, mode)
    assert float(same.detach()) == 0.0 and terms["D_match_corr"] == pytest.approx(1.0)


@pytest.mark.parametrize("fraction", [0.5, 0.25])
def test_nickel_projection_shapes_and_gradients(fraction):
    G_T = randomize(Generator(teacher_net())).requires_grad_(True)
    D_S = make_student(randomize(Discriminator(teacher_net()), 2, 0.1), fraction).requires_grad_(True)
    proj = NickelProjector(G_T, D_S, [8])  # 1/4 of 32
    assert proj.g_index == [1] and proj.d_index == [1]
    assert proj.projs[0].weight.shape == (16, int(16 * fraction), 1, 1)  # student width -> teacher width
    z = torch.randn(2, 8)
    images, feats = G_T(z, return_features=True)
    loss = nickel_loss(D_S, proj, images, feats, None, levels=3)
    assert loss.ndim == 0 and float(loss.detach()) > 0
    loss.backward()
    assert all(grads(proj)) and not any(grads(G_T))
    # only D_S's stages up to the 8x8 output (stages 0 and 1, high -> low resolution) are reached
    assert any(grads(D_S.stages[0])) and any(grads(D_S.stages[1]))
    assert not any(grads(D_S.stages[2])) and not any(grads(D_S.stages[3]))
    with pytest.raises(ValueError):
        NickelProjector(G_T, D_S, [32])  # D has no 32x32 stage output


def test_nickel_with_a_pacgan_student_d_matches_each_pack_to_its_images():
    """A D_S that packs 2 images per input (net.pack) has half the batch in its feature maps; f_i maps them to
    both images' G_T feature maps side by side (the compression experiment's teachers pack 4)."""
    import dataclasses

    G_T = randomize(Generator(teacher_net())).requires_grad_(True)
    D_T = randomize(Discriminator(dataclasses.replace(teacher_net(), pack=2)), 2, 0.1)
    D_S = make_student(D_T, 0.5).requires_grad_(True)
    proj = NickelProjector(G_T, D_S, [8])
    assert proj.pack == 2 and proj.projs[0].weight.shape == (2 * 16, 8, 1, 1)
    images, feats = G_T(torch.randn(4, 8), return_features=True)
    loss = nickel_loss(D_S, proj, images, feats, None, levels=3)
    _, d_feats = D_S(images, None, return_features=True)
    packed = torch.cat([feats[1][0::2], feats[1][1::2]], dim=1)  # image 2i's channels, then image 2i+1's
    expected = wavelet_loss(proj.projs[0](d_feats[1]), packed.detach(), 3)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    loss.backward()
    assert all(grads(proj)) and any(grads(D_S.stages[0])) and not any(grads(G_T))


def test_parse_embeddings():
    assert parse_embeddings(["dino:20", "clip:15", "vgg16"]) == [("dino", 20.0), ("clip", 15.0), ("vgg16", 1.0)]


def test_dime_losses_reach_the_student_only(embed_name):
    phi = build_embedder(embed_name)
    G_T = randomize(Generator(teacher_net())).requires_grad_(True)
    G_S = make_student(G_T, 0.5).requires_grad_(True)
    z = torch.randn(4, 8)
    x_t, x_s = G_T(z), G_S(z)
    paired = dime_paired_loss(phi, x_s, x_t)
    expected = (phi(x_s) - phi(x_t)).abs().sum(1).mean()  # Eq. 1: L1 norm over dimensions, mean over z
    assert float(paired.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    f = phi(x_s).detach()
    own = {"mean": f.mean(0), "m2": f.square().mean(0)}
    assert float(dime_global_loss(phi, x_s, own).detach()) == pytest.approx(0.0, abs=1e-6)
    shifted = {"mean": own["mean"] + 0.5, "m2": own["m2"]}
    dims = f.shape[1]  # summed over the embedding dimensions, like Eq. 1
    assert float(dime_global_loss(phi, x_s, shifted).detach()) == pytest.approx(0.5 * dims, rel=1e-4)
    (paired + dime_global_loss(phi, x_s, shifted)).backward()
    assert any(grads(G_S)) and not any(grads(G_T))
    assert all(p.grad is None for p in phi.parameters())


def test_supervised_loss_l1_and_lpips_gradients_reach_the_student_only():
    sup = SupervisedLoss(SupConfig(l1=1.0, lpips=0.0))
    sup.cfg = SupConfig(l1=1.0, lpips=0.5)
    sup.lpips = LPIPS("alexnet", pretrained_trunk=False)  # random trunk + the lpips package's linear layers
    s = torch.randn(2, 1, 32, 32, requires_grad=True)
    t = torch.randn(2, 1, 32, 32, requires_grad=True)
    loss, terms = sup(s, t)
    expected = (s - t).abs().mean() + 0.5 * sup.lpips(s, t).mean()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-4)
    assert set(terms) == {"L1", "LPIPS", "L_sup"}
    loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and t.grad is None


def test_sdakd_stages_update_the_right_networks(tmp_path):
    setup = make_setup(tmp_path, "sdakd")
    method = SDAKDMethod(setup)
    assert [name for name, _ in method.stages()] == ["stage2", "stage3"]
    nets = {"G_T": setup.G_T, "D_T": setup.D_T, "G_S": setup.G_S, "D_S": setup.D_S, "mlp": method.mlp}
    stage2 = {"L_D_match", "D_match_corr", "D_match_sign", "L_MLP", "L1"}
    for stage, logged in (("stage2", stage2), ("stage3", {"L_adv", "R1", "R2", "L_MLP"})):
        before = {k: snapshot(m) for k, m in nets.items()}
        terms = method.step(stage, *batch(setup))
        assert logged <= set(terms)
        assert {k for k, m in nets.items() if changed(m, before[k])} == {"G_S", "D_S", "mlp"}
    assert "L_adv" not in method.step("stage2", *batch(setup))


@pytest.mark.parametrize("train_teacher_d", [True, False])
@pytest.mark.parametrize("mode", ["global-moments-ext", "paired"])
def test_nickel_dime_step_updates_the_right_networks(tmp_path, embed_name, train_teacher_d, mode):
    setup = make_setup(tmp_path, "nickel-dime", nickel__embeddings=[f"{embed_name}:20"], nickel__stats_num=8,
                       nickel__train_teacher_d=train_teacher_d, nickel__dime_mode=mode)
    method = NickelDimeMethod(setup)
    assert (tmp_path / "teacher_stats.safetensors").exists() == (mode == "global-moments-ext")
    nets = {"G_T": setup.G_T, "D_T": setup.D_T, "G_S": setup.G_S, "D_S": setup.D_S, "proj": method.projector}
    before = {k: snapshot(m) for k, m in nets.items()}
    terms = method.step("nickel-dime", *batch(setup))
    expected = {"G_S", "D_S", "proj"} | ({"D_T"} if train_teacher_d else set())
    assert {k for k, m in nets.items() if changed(m, before[k])} == expected
    assert {"L_NICKEL", f"L_{embed_name}", "L_adv_S", "L_adv_T"} <= set(terms)
    assert ("loss_D_T" in terms) == train_teacher_d


def test_kd_is_output_distillation_with_optional_critic(tmp_path):
    setup = make_setup(tmp_path, "kd")
    method = KDMethod(setup)
    before = snapshot(setup.D_S)
    terms = method.step("kd", *batch(setup))
    assert set(terms) == {"L1", "L_sup", "loss_G", "skipped_G"} and not changed(setup.D_S, before)
    setup = make_setup(tmp_path, "kd", kd__adv_weight=0.1, num_classes=3)
    method = KDMethod(setup)
    before = snapshot(setup.D_S)
    terms = method.step("kd", *batch(setup))
    assert "L_adv" in terms and changed(setup.D_S, before)
