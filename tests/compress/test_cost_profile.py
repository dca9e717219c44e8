import pytest
import torch
from helpers import tiny_net
from torch import nn

from ganforge.compress.profile import (
    analytic_macs,
    count_macs,
    count_params,
    measure_latency,
    profile_generator,
    sample_inputs,
)
from ganforge.compress.report import build_report, format_report
from ganforge.compress.student import make_student
from ganforge.networks import Generator, NetworkConfig


def test_conv_and_linear_macs_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, groups=1), nn.Conv2d(8, 8, 3, padding=1, groups=4),
                        nn.Flatten(), nn.Linear(8 * 5 * 5, 10))
    x = torch.randn(2, 3, 5, 5)
    expected = 25 * 8 * 3 * 9 + 25 * 8 * 2 * 9 + 200 * 10  # out pixels x out ch x in-per-group x k*k
    assert analytic_macs(net, x) == expected


@pytest.mark.parametrize("num_classes", [0, 10])
def test_flop_counter_agrees_with_analytic_count(num_classes):
    cfg = NetworkConfig(widths=[32, 32, 16, 16], blocks=[1, 2, 1, 1], cardinalities=[4, 4, 2, 2], z_dim=16,
                        img_channels=3, num_classes=num_classes, g_embed_dim=8)
    G = Generator(cfg)
    macs, stages = count_macs(G)
    z, c = sample_inputs(G, 1)
    assert macs == analytic_macs(G, z, c)
    assert sum(s.macs for s in stages) == macs  # embed + stages + to_rgb cover everything that is counted
    assert sum(s.params for s in stages) == count_params(G)
    # batch-independent per-image count
    assert count_macs(G, batch_size=3)[0] == macs


def test_students_cost_less_and_stages_grow_with_resolution():
    teacher = Generator(NetworkConfig(widths=[64] * 4, blocks=[1] * 4, cardinalities=[8] * 4))
    prev = count_macs(teacher)[0]
    for c in (0.5, 0.25, 0.125):
        m = count_macs(make_student(teacher, c, init="random"))[0]
        assert m < prev
        prev = m
    _, stages = count_macs(teacher)
    stage_macs = [s.macs for s in stages if s.name.startswith("stage")]
    assert stage_macs == sorted(stage_macs)


def test_latency_is_a_median_of_repeats():
    G = Generator(tiny_net())
    r = measure_latency(G, batch_size=4, warmup=1, repeats=5, threads=1)
    assert len(r.runs_ms) == 5 and r.threads == 1 and r.batch_size == 4
    assert sorted(r.runs_ms)[2] == pytest.approx(r.median_ms)
    assert r.per_image_ms == pytest.approx(r.median_ms / 4)
    assert torch.get_num_threads() >= 1


def test_report_ratios_are_relative_to_the_teacher():
    teacher = Generator(NetworkConfig(widths=[32] * 4, blocks=[1] * 4, cardinalities=[4] * 4, z_dim=8))
    student = make_student(teacher, 0.25, init="random")
    rows = build_report({"teacher": teacher, "student": student}, batch_sizes=(1, 2), warmup=1, repeats=2, rounds=2)
    t, s = rows
    assert len(s.profile.latency[2].runs_ms) == 4  # 2 rounds of 2 timed runs, one median over all
    assert t.params_ratio == 1.0 and t.compression_rate == 0.0 and t.speedup == {1: 1.0, 2: 1.0}
    assert s.params_ratio == pytest.approx(count_params(student) / count_params(teacher))
    assert s.compression_rate == pytest.approx(1 - s.profile.macs / t.profile.macs)
    assert 0 < s.compression_rate < 1
    text = format_report(rows)
    assert "speed-up@2" in text and "stage3 (32x32)" in text and "one multiply-add = one MAC" in text
    assert profile_generator(student, (1,), 0, 1).to_dict()["latency"]["1"]["batch_size"] == 1
