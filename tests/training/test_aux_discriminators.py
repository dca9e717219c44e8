"""Vision-aided and projected discriminators: config, heads that learn, warm-up, hinge loss, buffers, runs + resume."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.losses import get_loss
from ganforge.networks.backbones import register_backbone
from ganforge.networks.pretrained_config import AuxDConfig, ProjectedConfig
from ganforge.networks.pretrained_d import ProjectedDiscriminator, VisionAidedDiscriminator
from ganforge.training import Trainer
from ganforge.training.aux_discriminators import AuxDiscriminators
from ganforge.training.checkpoint import list_checkpoints
from ganforge.training.config import to_dict
from ganforge.training.overrides import ConfigError, apply_overrides, update_from_dict
from ganforge.training.steps import discriminator_loss

BACKBONE = "test-aux-vgg"


def tiny_vgg(weights: str | None = None) -> nn.Sequential:
    """A small VGG-like trunk, identical on every call (as pretrained weights would be)."""
    with torch.random.fork_rng():
        torch.manual_seed(2)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


@pytest.fixture(autouse=True)
def _registered():
    register_backbone(BACKBONE, tiny_vgg, overwrite=True)


def test_d_aux_from_overrides_json_shorthand_and_saved_config(tmp_path):
    cfg = tiny_train_config(str(tmp_path))
    apply_overrides(cfg, ['d_aux=[{"backbone": "vgg16", "layers": ["relu3_3"], "weight": 0.5, "warmup_kimg": 2}]'])
    assert cfg.d_aux == [AuxDConfig(backbone="vgg16", layers=["relu3_3"], weight=0.5, warmup_kimg=2.0)]
    apply_overrides(cfg, ["d_aux=vgg16,clip"])
    assert [e.backbone for e in cfg.d_aux] == ["vgg16", "clip"]
    restored = update_from_dict(tiny_train_config(str(tmp_path)), json.loads(json.dumps(to_dict(cfg))))
    assert restored.d_aux == cfg.d_aux
    with pytest.raises(ConfigError, match="head: expected one of linear, mlp, conv"):
        apply_overrides(cfg, ['d_aux=[{"head": "transformer"}]'])
    with pytest.raises(ConfigError, match="unknown config key 'warmup'"):
        apply_overrides(cfg, ['d_aux=[{"warmup": 3}]'])
    with pytest.raises(ConfigError, match="weight must be a finite number >= 0"):
        apply_overrides(cfg, ['d_aux=[{"weight": -1}]'])
    with pytest.raises(ConfigError, match="expected a backbone name"):
        apply_overrides(cfg, ["d_aux=[{backbone: vgg16}]"])  # not JSON
    cfg = tiny_train_config(str(tmp_path))
    cfg.d_aux = [AuxDConfig(backbone="vgg16")]
    cfg.d_aux[0].loss = "wasserstein"  # set on the object after it was built: caught by the trainer's check
    with pytest.raises(ConfigError, match=r"d_aux\[0\]\.loss"):
        Trainer(cfg, dataset=tiny_dataset(8))
    with pytest.raises(ConfigError, match=r"loss\.name=hinge"):
        apply_overrides(tiny_train_config(str(tmp_path)), ["d_arch=projected"])


@pytest.mark.parametrize(("spectral_norm", "factor"), [(False, 0.5), (True, 0.9)])
def test_head_learns_a_separable_toy_problem_and_only_the_head_trains(spectral_norm: bool, factor: float):
    cfg = AuxDConfig(backbone=BACKBONE, head="mlp", head_width=16, augment="", spectral_norm=spectral_norm)
    D = VisionAidedDiscriminator(cfg, 1, 32)
    assert all(name.startswith("heads.") for name, _ in D.named_parameters())
    opt = torch.optim.Adam(D.parameters(), lr=3e-2)
    loss_d, _ = get_loss("nsgan")
    g = torch.Generator().manual_seed(0)
    real = torch.rand(16, 1, 32, 32, generator=g) * 0.5 + 0.5  # bright vs dark images
    fake = torch.rand(16, 1, 32, 32, generator=g) * 0.5 - 1.0
    losses = []
    for _ in range(20):
        logits = D(torch.cat([real, fake]))
        assert logits.shape == (32, 3)  # one logit per tapped layer
        loss = loss_d(logits[:16], logits[16:]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < factor * losses[0]  # spectral norm bounds the logits by the (small) feature gap


def test_warmup_gates_the_aux_terms_and_weights_them():
    entries = [AuxDConfig(backbone=BACKBONE, head="linear", weight=0.5, augment=""),
               AuxDConfig(backbone=BACKBONE, head="conv", head_width=8, warmup_kimg=1.0, loss="hinge", augment="")]
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))])
    aux = AuxDiscriminators.build(tiny_train_config("unused", d_aux=entries), torch.device("cpu"), opt)
    assert len(opt.param_groups) == 2 and aux.checkpoint_modules() == {"D_aux": aux}
    assert aux.active(0) == aux.active(999) == [0] and aux.active(1000) == [0, 1]
    real, fake = torch.rand(4, 1, 32, 32) * 2 - 1, torch.rand(4, 1, 32, 32) * 2 - 1
    total, logged = aux.d_term(0)(real, fake)
    assert set(logged) == {"loss_D_aux0"} and torch.isclose(total, torch.tensor(0.5 * logged["loss_D_aux0"]))
    total, logged = aux.g_term(1000)(real, fake.requires_grad_())
    assert set(logged) == {"loss_G_aux0", "loss_G_aux1"}
    assert torch.isclose(total, torch.tensor(0.5 * logged["loss_G_aux0"] + logged["loss_G_aux1"]))
    total.backward()
    assert fake.grad.abs().sum() > 0 and all(p.grad is None for p in aux.parameters())  # heads frozen in G step
    late = AuxDiscriminators([AuxDConfig(backbone=BACKBONE, warmup_kimg=5, augment="")], 1, 32)
    assert late.d_term(4999) is None and late.g_term(4999) is None
    assert AuxDiscriminators([], 1, 32).checkpoint_modules() == {}


def test_aux_r1_is_configurable_and_reaches_the_head():
    aux = AuxDiscriminators([AuxDConfig(backbone=BACKBONE, head="linear", r1=True, augment="")], 1, 32)
    real, fake = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    total, logged = aux.d_term(0, gamma=2.0, regularise=True)(real, fake)
    assert logged["R1_aux0"] > 0 and logged["R2_aux0"] == 0
    assert torch.isclose(total, torch.tensor(logged["loss_D_aux0"] + logged["R1_aux0"]), rtol=1e-5)
    _, logged = aux.d_term(0, gamma=2.0, regularise=False)(real, fake)  # lazy step: no penalty
    assert "R1_aux0" not in logged


def test_bf16_backbone_with_the_penalised_step_in_fp32(monkeypatch):
    monkeypatch.setattr("ganforge.perceptual.lpips_metric.native_bf16", lambda device: True)
    aux = AuxDiscriminators([AuxDConfig(backbone=BACKBONE, head="linear", r1=True, augment="", precision="auto")],
                            1, 32)
    seen: list[torch.dtype] = []
    aux.ds[0].backbone.net[0].register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    real, fake = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32, requires_grad=True)
    aux.d_term(0, gamma=2.0, regularise=False)(real, fake)
    aux.g_term(0)(real, fake)[0].backward()
    assert seen == [torch.bfloat16, torch.bfloat16] and fake.grad.abs().sum() > 0
    seen.clear()
    _, logged = aux.d_term(0, gamma=2.0, regularise=True)(real, fake)
    assert seen == [torch.float32] and logged["R1_aux0"] > 0
    with pytest.raises(ValueError, match=r"d_aux.precision must be fp32, bf16 or auto"):
        AuxDConfig(backbone=BACKBONE, precision="fp16")
    with pytest.raises(ValueError, match=r"projected.precision"):
        ProjectedConfig(precision="half")


def test_hinge_loss_values():
    hinge_d, hinge_g = get_loss("hinge")
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.5, 1.0])
    assert torch.equal(hinge_d(real, fake), torch.tensor([0.0, 0.5 + 1.5, 2.0 + 2.0]))
    assert torch.equal(hinge_g(real, fake), -fake)


def projected(seed: int = 0) -> ProjectedDiscriminator:
    return ProjectedDiscriminator(ProjectedConfig(backbone=BACKBONE, channels=4, head_width=8, seed=seed),
                                  tiny_train_config("unused").net)


def test_projections_are_seeded_fixed_buffers_and_heads_are_multiscale():
    a, b, c = projected(0), projected(0), projected(1)
    buffers = {k: v for k, v in a.state_dict().items() if k.startswith(("ccm", "csm"))}
    assert sorted(buffers) == ["ccm0", "ccm1", "ccm2", "csm0", "csm1"]
    assert [tuple(buffers[f"ccm{i}"].shape) for i in range(3)] == [(4, 8, 1, 1), (8, 16, 1, 1), (16, 16, 1, 1)]
    assert tuple(buffers["csm0"].shape) == (4, 8, 3, 3)  # deeper scale -> shallower, 3x3
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in buffers.items())
    assert not torch.equal(buffers["ccm0"], c.state_dict()["ccm0"])
    assert not any(k.startswith("backbone.") for k in a.state_dict())
    assert all(name.startswith("heads.") for name, _ in a.named_parameters())
    x = torch.rand(4, 1, 32, 32, requires_grad=True)
    logits = a(x)
    assert logits.shape == (4, 3 * 25)  # each scale (32, 16, 8 px) strided down to 8x8, then 5x5 patch logits
    logits.sum().backward()
    assert x.grad.abs().sum() > 0 and all(buf.grad is None for buf in a.buffers())


def test_projected_d_in_the_d_step_with_hinge_and_r1():
    D = projected()
    real, fake = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    _, terms, real_logits, fake_logits = discriminator_loss(D, real, fake, None, get_loss("hinge")[0], 1.0,
                                                            True, False)
    expected = get_loss("hinge")[0](real_logits, fake_logits).mean()
    assert torch.isclose(torch.tensor(terms["loss_D"]), expected) and terms["R1"] > 0 and terms["R2"] == 0


def run_config(out: str, kimg: float, arch: str):
    """A tiny run with one vision-aided D ("aux") or with the projected D ("projected")."""
    cfg = tiny_train_config(out, kimg=kimg)
    if arch == "aux":
        cfg.d_aux = [AuxDConfig(backbone=BACKBONE, head="mlp", head_width=8, weight=0.5)]
    else:
        cfg.d_arch, cfg.loss.name, cfg.loss.r1, cfg.loss.r2 = "projected", "hinge", False, False
        cfg.projected = ProjectedConfig(backbone=BACKBONE, channels=4, head_width=8, seed=3)
    return cfg


def test_two_step_run_with_a_vision_aided_d_resumes(tmp_path):
    data = tiny_dataset(16)
    Trainer(run_config(str(tmp_path / "run"), 0.016, "aux"), dataset=data).train()
    last = list_checkpoints(tmp_path / "run")[-1]
    saved = load_file(str(last / "D_aux.safetensors"))
    assert saved and all(k.startswith("ds.0.heads.") for k in saved)
    assert len(json.loads((last / "state.json").read_text())["optimizers"]["D"]["param_groups"]) == 2
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("loss_D_aux0" in r and "loss_G_aux0" in r for r in records)
    resumed = Trainer(run_config(str(tmp_path / "run"), 0.024, "aux"), dataset=data, resume=True)
    assert resumed.cur_nimg == 16
    assert all(torch.equal(v, saved[k]) for k, v in resumed.aux.state_dict().items())
    resumed.train()
    assert resumed.cur_nimg == 24


def test_two_step_run_with_the_projected_d_resumes_its_projections(tmp_path):
    data = tiny_dataset(16)
    Trainer(run_config(str(tmp_path / "run"), 0.016, "projected"), dataset=data).train()
    last = list_checkpoints(tmp_path / "run")[-1]
    tensors = load_file(str(last / "D.safetensors"))
    assert torch.equal(tensors["ccm0"], projected(3).ccm0)  # drawn from projected.seed
    tensors["ccm0"] = tensors["ccm0"] * -1  # the resumed D must take them from the checkpoint
    save_file(tensors, str(last / "D.safetensors"))
    state = json.loads((last / "state.json").read_text())
    state["files"]["D.safetensors"] = (last / "D.safetensors").stat().st_size
    (last / "state.json").write_text(json.dumps(state))
    resumed = Trainer(run_config(str(tmp_path / "run"), 0.024, "projected"), dataset=data, resume=True)
    assert resumed.cur_nimg == 16 and torch.equal(resumed.D.ccm0, tensors["ccm0"])
    resumed.train()
    assert resumed.cur_nimg == 24 and torch.equal(resumed.D.ccm0, tensors["ccm0"])  # never trained
