"""A StyleGAN2 teacher's student trains with the teacher run's recipe (compress.student_recipe): lazy R1, style
mixing in G_S's passes replayed by G_T, lazy path length; R3GAN teachers' students train exactly as before."""

import pytest
import torch
from compress_helpers import batch, make_setup
from helpers import tiny_train_config
from test_stylegan_students import randomized, sg2_net

from ganforge.compress.common import DistillSetup, SupervisedLoss, adversarial_g_loss, critic_loss, optimizer_step
from ganforge.compress.config import CompressConfig
from ganforge.compress.kd import KDMethod
from ganforge.compress.nickel_dime import NickelDimeMethod
from ganforge.compress.sdakd import SDAKDMethod
from ganforge.compress.student import make_student
from ganforge.compress.student_recipe import StudentRecipe
from ganforge.losses import get_loss
from ganforge.training import get_preset
from ganforge.training.steps import discriminator_loss, joint_pass_ok

METHODS = {"kd": KDMethod, "sdakd": SDAKDMethod, "nickel-dime": NickelDimeMethod}


def sg2_teacher_config(**loss):
    """sg2-cpu's recipe (nsgan, R1 every 16, style mixing 0.9, path length 2 every 4) on the tiny sg2 net."""
    cfg = get_preset("sg2-cpu")
    cfg.net = sg2_net()
    for key, value in loss.items():
        setattr(cfg.loss, key, value)
    return cfg


def sg2_setup(tmp_path, method="kd", fraction=0.5, init="teacher", choice="teacher", gamma=0.1, embed=None,
              **loss) -> DistillSetup:
    """A DistillSetup as CompressRunner builds it for a StyleGAN2 teacher, on random tiny networks."""
    cfg = CompressConfig(method=method, fraction=fraction, out=str(tmp_path), batch_size=4, student_recipe=choice)
    cfg.sup.lpips = 0.0
    cfg.nickel.embeddings, cfg.nickel.dime_mode = ([f"{embed}:20"] if embed else []), "paired"
    tcfg = sg2_teacher_config(**loss)
    G_T, D_T = randomized(tcfg.net)
    G_T.requires_grad_(False), D_T.requires_grad_(False)
    G_S = make_student(G_T, fraction, init).requires_grad_(True).train()
    D_S = make_student(D_T, fraction, init).requires_grad_(True).train()
    loss_d, loss_g = get_loss(tcfg.loss.name)
    recipe = StudentRecipe.for_teacher(tcfg, choice, torch.device("cpu"))
    return DistillSetup(cfg, G_T, D_T, G_S, D_S, tcfg.loss.name, loss_d, loss_g, gamma, tcfg.loss.r1, tcfg.loss.r2,
                        torch.device("cpu"), tmp_path, recipe)


def record_ws(setup: DistillSetup) -> tuple[list[tuple[str, torch.Tensor]], list]:
    """Every ws the student's and the teacher's synthesis receive, in call order."""
    calls: list[tuple[str, torch.Tensor]] = []
    hooks = [G.synthesis.register_forward_pre_hook(lambda _m, args, who=who: calls.append((who, args[0].detach())))
             for who, G in (("S", setup.G_S), ("T", setup.G_T))]
    return calls, hooks


def test_the_recipe_is_the_teacher_runs_for_stylegan2_and_inert_otherwise():
    cpu = torch.device("cpu")
    recipe = StudentRecipe.for_teacher(sg2_teacher_config(), "teacher", cpu)
    assert recipe.active and recipe.pieces() == {
        "recipe": "stylegan2 (teacher run)", "loss": "nsgan", "r1_every": 16, "style_mixing": 0.9, "pl_weight": 2.0,
        "pl_every": 4, "pl_batch_shrink": 2, "teacher_replays_mixing_and_noise": True}
    r3gan = tiny_train_config("unused")
    r3gan.loss.r_every = 4  # an R3GAN teacher's lazy R1 stays out of its students' training, as before
    for inert in (StudentRecipe.for_teacher(r3gan, "teacher", cpu),
                  StudentRecipe.for_teacher(sg2_teacher_config(), "none", cpu)):
        assert not inert.active and inert.pieces() == {"recipe": "none"}
        for step in range(5):
            inert.step = step
            assert inert.penalties(0.1, True, True) == (0.1, True, True)
            assert inert.path_length(None, torch.zeros(2, 8), None) == (0.0, {})
            assert inert.penalty_terms(None, {"R1": 1.0}) == {"R1": 1.0}


@pytest.mark.parametrize("method", ["kd", "sdakd", "nickel-dime"])
def test_the_teacher_target_sees_the_students_mixed_ws_and_noise(tmp_path, method, embed_name):
    """Fraction 1 with the teacher's weights: G_S is G_T, so the distillation target matches G_S's image exactly
    only when G_T replays G_S's style mixing and per-layer noise."""
    torch.manual_seed(0)
    s = sg2_setup(tmp_path, method, fraction=1.0, style_mixing=1.0, embed=embed_name)
    calls, hooks = record_ws(s)
    real, c, z = batch(s)
    terms = METHODS[method](s).step("stage2" if method == "sdakd" else method, real, c, z)
    for h in hooks:
        h.remove()
    teacher_calls = [i for i, (who, _) in enumerate(calls) if who == "T"]
    assert len(teacher_calls) == (2 if method == "nickel-dime" else 1)  # nickel: D step and the paired DiME term
    for i in teacher_calls:
        assert calls[i - 1][0] == "S" and torch.equal(calls[i][1], calls[i - 1][1])
    for _, ws in calls:
        assert not torch.allclose(ws[:, 0], ws[:, -1])  # every pass mixed (probability 1)
    if method != "nickel-dime":
        assert terms["L1"] < 1e-5
        old = sg2_setup(tmp_path, method, fraction=1.0, choice="none")  # G_S draws noise, G_T uses its constant
        assert METHODS[method](old).step("stage2" if method == "sdakd" else method, real, c, z)["L1"] > 1e-3


def test_style_mixing_changes_the_students_pass(tmp_path):
    outputs = {}
    for prob in (0.0, 1.0):
        torch.manual_seed(0)
        s = sg2_setup(tmp_path, style_mixing=prob)
        s.G_S.noise_mode = "const"  # only the mixing differs between the two runs
        calls, hooks = record_ws(s)
        real, c, z = batch(s)
        KDMethod(s).step("kd", real, c, z)
        for h in hooks:
            h.remove()
        outputs[prob] = calls[0][1]
    unmixed, mixed = outputs[0.0], outputs[1.0]
    assert torch.equal(unmixed, unmixed[:, :1].expand_as(unmixed))  # one w for every layer
    cutoff = next(i for i in range(1, mixed.shape[1]) if not torch.equal(mixed[:, i], unmixed[:, i]))
    assert torch.equal(mixed[:, :cutoff], unmixed[:, :cutoff])  # the layers before the cutoff keep w(z)
    assert not torch.allclose(mixed[:, cutoff:], unmixed[:, cutoff:])  # after it, w(z2) of a second latent


@pytest.mark.parametrize("method", ["kd", "sdakd", "nickel-dime"])
def test_path_length_is_lazy_weighted_and_logged(tmp_path, method):
    torch.manual_seed(0)
    s = sg2_setup(tmp_path, method)
    s.cfg.kd.adv_weight = 0.5
    m = METHODS[method](s)
    real, c, z = batch(s)
    log = []
    for step in range(6):
        s.recipe.step = step
        log.append(m.step("stage3" if method == "sdakd" else method, real, c, z))
    assert all("PL" in t and "pl_mean" in t for t in log)
    assert log[0]["pl_mean"] > 0 and log[4]["PL"] != log[0]["PL"] and log[4]["pl_mean"] != log[0]["pl_mean"]
    assert all((t["PL"], t["pl_mean"]) == (log[0]["PL"], log[0]["pl_mean"]) for t in log[1:4])  # lazy: carried
    if method == "kd":  # L_G = L_sup + w L_adv + pl_weight * pl_every * PL on the regularising steps only
        for step in (0, 1):
            parts = log[step]["L_sup"] + 0.5 * log[step]["L_adv"] + (2 * 4 * log[step]["PL"] if step == 0 else 0)
            assert log[step]["loss_G"] == pytest.approx(parts, rel=1e-5)
    if method == "sdakd":
        assert "PL" not in m.step("stage2", real, c, z)  # the supervised-only stage has no adversarial part


def test_r1_is_lazy_and_weighted_by_its_interval(tmp_path):
    torch.manual_seed(0)
    s = sg2_setup(tmp_path, r_every=4, gamma=1000.0)  # a penalty large enough to read off the float32 loss
    real, c, z = batch(s)
    with torch.no_grad():
        fake = s.G_S(z, c)
    out = {}
    for step in range(5):
        s.recipe.step = step
        loss, terms = critic_loss(s, s.D_S, real, fake, c)
        out[step] = float(loss.detach()), terms
    loss0, terms0 = out[0]
    assert terms0["regularised"] == 1.0 and terms0["R1"] > 0 and terms0["R2"] == 0.0  # nsgan recipe: R1 only
    assert loss0 - terms0["loss_D"] == pytest.approx(1000.0 * 4 / 2 * terms0["R1"], rel=1e-4)  # gamma x r_every
    for step in (1, 2, 3):
        loss, terms = out[step]
        assert terms["regularised"] == 0.0 and loss == pytest.approx(terms["loss_D"], abs=1e-7)
        assert terms["R1"] == terms0["R1"]  # lazy steps log the last penalty
    assert out[4][1]["regularised"] == 1.0


def _old_kd_step(s: DistillSetup, sup: SupervisedLoss, opt_G, opt_D, real, c, z) -> dict[str, float]:
    """KDMethod.step as it was before the StyleGAN2 recipe (adv_weight 0.5)."""
    with torch.no_grad():
        target = s.G_T(z, c)
    with torch.no_grad():
        fake = s.G_S(z, c)
    s.D_S.requires_grad_(True)
    loss_D, terms = discriminator_loss(s.D_S, real, fake, c, s.loss_d, s.gamma, s.r1, s.r2,
                                       joint=joint_pass_ok(s.D_S, real.shape[0]))[:2]
    terms["skipped_D"] = float(not optimizer_step(opt_D, loss_D))
    image = s.G_S(z, c)
    loss, sup_terms = sup(image, target)
    terms.update(sup_terms)
    adv = adversarial_g_loss(s.D_S, real, image, c, s.loss_g, s.needs_real)
    loss = loss + 0.5 * adv
    terms["L_adv"] = float(adv.detach())
    terms["loss_G"] = float(loss.detach())
    terms["skipped_G"] = float(not optimizer_step(opt_G, loss))
    return terms


def test_an_r3gan_teachers_kd_steps_are_bit_for_bit_unchanged(tmp_path):
    new, old = (make_setup(tmp_path, "kd", kd__adv_weight=0.5) for _ in range(2))
    assert not new.recipe.active
    method = KDMethod(new)
    sup = SupervisedLoss(old.cfg.sup)
    opt_G, opt_D = (torch.optim.Adam(m.parameters(), lr=old.cfg.lr, betas=(old.cfg.beta1, old.cfg.beta2), eps=1e-8)
                    for m in (old.G_S, old.D_S))
    for step in range(3):
        real, c, z = batch(new, seed=step)
        new.recipe.step = step
        assert method.step("kd", real, c, z) == _old_kd_step(old, sup, opt_G, opt_D, real, c, z)
    for a, b in ((new.G_S, old.G_S), (new.D_S, old.D_S)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
