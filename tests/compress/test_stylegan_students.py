"""StyleGAN2 teachers in `ganforge compress` (NICKEL & DiME's own setting): channel-fraction students with the
teacher's mapping network, teacher-weight initialisation, and kd / nickel-dime / sdakd runs end to end."""

import hashlib
import json

import pytest
import torch

from ganforge.cli.main import main
from ganforge.compress.nickel_dime import NickelProjector
from ganforge.compress.report import build_report
from ganforge.compress.student import feature_widths, layout_of, make_student, set_sizes, student_config
from ganforge.errors import UserError
from ganforge.networks import NetworkConfig, make_networks
from ganforge.training import Trainer, get_preset
from ganforge.training.checkpoint import list_checkpoints, read_state
from ganforge.training.load import load_generator


def sg2_net(num_classes: int = 0, channels: int = 1, **kw) -> NetworkConfig:
    """32x32, w 16, channels 32 at 4x4 and 8x8, 16 at 16x16, 8 at 32x32."""
    arch = {"img_resolution": 32, "w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 32, **kw}
    return NetworkConfig(arch="stylegan2", z_dim=8, img_channels=channels, num_classes=num_classes, arch_kwargs=arch)


def randomized(net: NetworkConfig, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D with every parameter non-zero (noise strengths and biases start at 0)."""
    torch.manual_seed(seed)
    G, D = make_networks(net)
    with torch.no_grad():
        for p in [*G.parameters(), *D.parameters()]:
            p.add_(torch.randn_like(p) * 0.2)
    return G.eval(), D.eval()


def synthesis_conv_params(G: torch.nn.Module) -> int:
    """Weights of the modulated 3x3 convs (ToRGB maps to the fixed image channels, so it scales by C only)."""
    return sum(p.numel() for n, p in G.named_parameters() if n.startswith("synthesis") and p.ndim == 4
               and "torgb" not in n)


@pytest.mark.parametrize("fraction", [0.5, 0.25])
def test_student_scales_synthesis_and_d_channels_and_keeps_the_mapping(fraction):
    teacher = sg2_net()
    s = student_config(teacher, fraction)
    assert s.arch_kwargs == {**teacher.arch_kwargs, "channel_base": 256 * fraction, "channel_max": 32 * fraction}
    G_T, D_T = make_networks(teacher)
    G_S, D_S = make_networks(s)
    assert [(r, round(w * fraction)) for r, w in feature_widths(G_T)] == feature_widths(G_S)
    assert [(r, round(w * fraction)) for r, w in feature_widths(D_T)] == feature_widths(D_S)
    # the mapping network (z, w and label embedding) is the teacher's, as in CAGC / NICKEL & DiME students
    assert {k: v.shape for k, v in G_S.mapping.state_dict().items()} == \
        {k: v.shape for k, v in G_T.mapping.state_dict().items()}
    assert synthesis_conv_params(G_S) == fraction**2 * synthesis_conv_params(G_T)  # every conv is C x C
    ratio = sum(p.numel() for p in D_S.parameters()) / sum(p.numel() for p in D_T.parameters())
    assert fraction**2 <= ratio < 1.2 * fraction**2  # D: every conv and fc is C x C, biases and fromrgb C
    # conditional: D's label mapping and projection width stay the teacher's, like G's mapping network
    cond = student_config(sg2_net(num_classes=3), fraction)
    assert cond.arch_kwargs["cmap_dim"] == 32
    D_T, D_S = (make_networks(n)[1] for n in (sg2_net(num_classes=3), cond))
    assert {k: v.shape for k, v in D_S.mapping.state_dict().items()} == \
        {k: v.shape for k, v in D_T.mapping.state_dict().items()}


def test_layouts_cover_every_channel_tensor_and_fraction_one_is_the_teacher():
    net = sg2_net(num_classes=3, mbstd_num_channels=2)
    G, D = randomized(net)
    for m in (G, D):
        layout, _ = layout_of(m)
        state = m.state_dict()
        assert set(layout) <= set(state)
        # every tensor left out has no channel axis: the mapping of G, noise, filters, w_avg, noise strengths
        left = [k for k in state if k not in layout]
        assert all((k.startswith("mapping.") and m is G) or "noise" in k or "resample_filter" in k for k in left)
    z, c = torch.randn(4, 8), torch.arange(4) % 3
    with torch.no_grad():
        x = G(z, c)
        torch.testing.assert_close(make_student(G, 1.0).eval()(z, c), x)
        torch.testing.assert_close(make_student(D, 1.0).eval()(x, c), D(x, c))


def _kill_odd_channels(module: torch.nn.Module) -> None:
    """Zero every weight and bias entry of the odd channels of each channel set: they carry nothing."""
    layout, _ = layout_of(module)
    state = module.state_dict()
    sizes = set_sizes(state, layout)
    with torch.no_grad():
        for name, axes in layout.items():
            t = state[name]
            for d, label in enumerate(axes):
                if label is None:
                    continue
                n = sizes[label.lstrip("+*")]
                k = t.shape[d] // n if label.startswith("*") else 1
                odd = torch.tensor([i * k + j for i in range(1, n, 2) for j in range(k)], dtype=torch.long)
                t.index_fill_(d, odd, 0.0)


@pytest.mark.parametrize("num_classes", [0, 3])
def test_teacher_init_drops_dead_channels_without_changing_the_function(num_classes):
    """Half the channels of every set carry nothing: the C = 0.5 student keeps exactly the live ones, and with the
    equalised-lr gains folded in (the student's fan-in is halved) it computes the teacher's function."""
    G, D = randomized(sg2_net(num_classes=num_classes, mbstd_num_channels=0, g_architecture="resnet",
                              d_architecture="skip"), seed=1)
    _kill_odd_channels(G)
    _kill_odd_channels(D)
    z = torch.randn(4, 8)
    c = torch.arange(4) % num_classes if num_classes else None
    G_S, D_S = make_student(G, 0.5).eval(), make_student(D, 0.5).eval()
    assert feature_widths(G_S) == [(4, 16), (8, 16), (16, 8), (32, 4)]
    with torch.no_grad():
        x = G(z, c)
        torch.testing.assert_close(G_S(z, c), x, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(D_S(x, c), D(x, c), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(make_student(G, 0.5, "random").eval()(z, c), x, atol=1e-2)


def test_nickel_projector_matches_stylegan_feature_widths():
    G_T, D_T = make_networks(sg2_net())
    D_S = make_student(D_T, 0.25, "random")
    proj = NickelProjector(G_T, D_S, [8, 16])
    assert [(p.in_channels, p.out_channels) for p in proj.projs] == [(8, 32), (4, 16)]
    with pytest.raises(ValueError, match="shared by G and D"):
        NickelProjector(G_T, D_S, [32])  # D's feature maps stop at 16x16


def test_unsupported_teachers_and_fractions_are_refused():
    with pytest.raises(UserError, match="fraction"):
        student_config(sg2_net(), 0.1)  # channel_base 26 < 32: no channels at 32x32
    with pytest.raises(UserError, match="mbstd_num_channels"):
        student_config(sg2_net(mbstd_num_channels=4), 0.1875)  # 6 channels at 4x4
    sg3 = NetworkConfig(arch="stylegan3", z_dim=8, arch_kwargs={"img_resolution": 16, "w_dim": 8})
    with pytest.raises(UserError, match="StyleGAN3"):
        student_config(sg3, 0.5)


# ---- end to end through `ganforge compress` -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sg2_teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("sg2") / "teacher"
    cfg = get_preset("sg2-cpu")
    cfg.net = sg2_net()
    cfg.net.arch_kwargs["mbstd_group_size"] = 4
    cfg.data, cfg.data_size, cfg.out = "digits", 64, str(out)
    cfg.batch_size, cfg.kimg, cfg.grid_size = 8, 0.016, 4
    cfg.log_every_kimg, cfg.snapshot_every_kimg = 0.008, 1000.0
    Trainer(cfg).train()
    return out


def _digest(run) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("method", ["kd", "nickel-dime", "sdakd"])
def test_compress_a_stylegan2_teacher_then_use_the_student(sg2_teacher, tmp_path, embed_name, method, capsys):
    before = _digest(sg2_teacher)
    out = tmp_path / method
    assert main(["compress", "--teacher", str(sg2_teacher), "--method", method, "--fraction", "0.5",
                 "--out", str(out), "--kimg", "0.024", "--batch-size", "8", "sup.lpips=0", "eval_metric=none",
                 f'nickel.embeddings=["{embed_name}:20"]', "nickel.stats_num=16", "nickel.stats_batch_size=8",
                 "log_every_kimg=0.008"]) == 0
    capsys.readouterr()
    assert _digest(sg2_teacher) == before  # the teacher run is read only (nickel-dime's D_T trains in memory)

    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()][1:]
    key = {"kd": "L1", "nickel-dime": "L_NICKEL", "sdakd": "L_MLP"}[method]
    assert len(records) == 3 and all(torch.isfinite(torch.tensor(r[key])) for r in records)
    assert all(torch.isfinite(torch.tensor(r["loss_G"])) and not r["skipped_G"] for r in records)
    # the teacher run's recipe (sg2-cpu: nsgan, lazy R1 every 16, style mixing 0.9, path length 2 every 4)
    applied = json.loads((out / "compress.json").read_text())["applied_recipe"]
    assert applied == json.loads((out / "log.jsonl").read_text().splitlines()[0])["recipe"]
    assert (applied["loss"], applied["r1_every"], applied["style_mixing"], applied["pl_every"]) == ("nsgan", 16, 0.9, 4)
    adversarial = [r for r in records if "L_adv" in r or "L_adv_S" in r]
    assert bool(adversarial) == (method != "kd")  # kd.adv_weight is 0 by default
    if method == "nickel-dime":  # step 0 regularises (R1 and path length); later steps log the last values
        assert all(r["PL"] >= 0 and r["pl_mean"] > 0 for r in adversarial)
        assert [r["regularised_S"] for r in records] == [1.0, 0.0, 0.0]

    state = read_state(list_checkpoints(out)[-1])
    net = state["config"]["net"]
    assert net["arch"] == "stylegan2" and (net["arch_kwargs"]["channel_base"], net["arch_kwargs"]["channel_max"]) \
        == (128, 16)
    G_T, G = load_generator(sg2_teacher), load_generator(out)
    assert feature_widths(G) == [(4, 16), (8, 16), (16, 8), (32, 4)]
    start = make_student(G_T, 0.5, "random" if method == "sdakd" else "teacher").state_dict()
    assert any(not torch.equal(v, start[k]) for k, v in G.state_dict().items() if k.startswith("synthesis"))
    with torch.no_grad():
        img = G(torch.randn(2, G.z_dim))
    assert img.shape == (2, 1, 32, 32) and torch.isfinite(img).all()
    assert main(["generate", str(out), "--seeds", "0-3", "--grid", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").exists()


def test_cost_report_of_a_stylegan2_student(sg2_teacher):
    G_T = load_generator(sg2_teacher)
    rows = build_report({"teacher": G_T, "student": make_student(G_T, 0.5, "random")}, batch_sizes=(1,),
                        warmup=0, repeats=1, threads=1)
    assert rows[0].widths == [32, 32, 16, 8] and rows[1].widths == [16, 16, 8, 4]
    assert [s.name for s in rows[0].profile.stages] == ["mapping", "b4 (4x4)", "b8 (8x8)", "b16 (16x16)",
                                                         "b32 (32x32)"]
    assert rows[1].profile.stages[0].macs == rows[0].profile.stages[0].macs  # the mapping network is kept
    for t, s in zip(rows[0].profile.stages[1:], rows[1].profile.stages[1:]):
        assert 0 < s.macs < 0.5 * t.macs  # synthesis convs ~ C^2
    assert 0.5 < rows[1].compression_rate < 1 and rows[1].params_ratio < 1
