"""Channel-fraction students of SR generators and their cost report (SDAKD Sec. 3.1 and Table 3)."""

import json

import pytest
import torch

from ganforge.cli.main import main
from ganforge.compress.profile import analytic_macs
from ganforge.compress.sr_cost import build_sr_report, format_sr_report, is_sr_weights, lr_input, sr_macs
from ganforge.compress.sr_student import make_sr_student, sr_student_config
from ganforge.networks.sr import SRDiscConfig, SRNetConfig, build_sr_discriminator, build_sr_generator, save_sr


def small_rrdb() -> torch.nn.Module:
    return build_sr_generator(SRNetConfig(arch="rrdb", num_feat=16, num_block=2, num_grow_ch=8, scale=4))


def test_students_scale_every_width_and_keep_depth_and_scale():
    cfg = SRNetConfig(arch="rrdb", num_feat=64, num_block=23, num_grow_ch=32, scale=4)
    half, eighth = sr_student_config(cfg, 0.5), sr_student_config(cfg, 1 / 8)
    assert (half.num_feat, half.num_grow_ch, half.num_block, half.scale) == (32, 16, 23, 4)
    assert (eighth.num_feat, eighth.num_grow_ch) == (8, 4)
    vgg = sr_student_config(SRNetConfig(arch="srvgg", num_feat=64, num_conv=32), 0.25)
    assert (vgg.num_feat, vgg.num_conv, vgg.num_grow_ch) == (16, 32, 32)  # growth channels are RRDB's only
    assert sr_student_config(SRDiscConfig(num_feat=64), 0.25).num_feat == 16
    with pytest.raises(ValueError, match="fraction"):
        sr_student_config(cfg, 0)
    student = make_sr_student(build_sr_discriminator(SRDiscConfig(num_feat=16)), 0.5)
    assert student.cfg.num_feat == 8
    with pytest.raises(TypeError, match="super-resolution"):
        make_sr_student(torch.nn.Conv2d(3, 3, 3), 0.5)


def test_student_runs_and_costs_about_c_squared_of_the_teacher():
    teacher = small_rrdb()
    student = make_sr_student(teacher, 0.5)
    x = lr_input(teacher, 12)
    assert student(x).shape == teacher(x).shape == (1, 3, 48, 48)
    macs_t, macs_s = sr_macs(teacher, 12), sr_macs(student, 12)
    assert macs_t == analytic_macs(teacher, x)
    assert 0.2 < macs_s / macs_t < 0.35  # ~C^2 = 0.25; the fixed 3-channel first/last convs scale only with C


def test_report_is_relative_to_the_teacher_and_names_its_sizes():
    teacher = small_rrdb()
    nets = {"teacher": teacher, "half": make_sr_student(teacher, 0.5)}
    rows = build_sr_report(nets, sizes=(8, 12), warmup=1, repeats=2, rounds=2)
    assert rows[0].speedup == {8: 1.0, 12: 1.0} and rows[0].params_ratio == 1.0
    assert rows[1].params_ratio < 0.35
    assert rows[1].macs[12] > rows[1].macs[8]
    assert all(len(r.latency[12].runs_ms) == 2 + 2 for r in rows)  # two rounds of two repeats
    text = format_sr_report(rows)
    assert "MACs@12" in text and "speed-up@8" in text and "half" in text


def test_report_command_profiles_sr_weights(tmp_path, capsys):
    teacher = small_rrdb()
    save_sr(teacher, tmp_path / "t.safetensors")
    save_sr(make_sr_student(teacher, 0.25), tmp_path / "s.safetensors")
    assert is_sr_weights(tmp_path / "t.safetensors") and not is_sr_weights(tmp_path / "missing.pth")
    out = tmp_path / "report.json"
    assert main(["report", str(tmp_path / "t.safetensors"), str(tmp_path / "s.safetensors"), "--lr-sizes", "8",
                 "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    assert "speed-up@8" in capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert [r["num_feat"] for r in rows] == [16, 4] and rows[0]["speedup"]["8"] == 1.0
