"""Channel-fraction students of a discriminator with minibatch-std: the statistic's extra head channel is kept."""

import dataclasses

import torch
from helpers import tiny_net

from ganforge.compress.student import make_student
from ganforge.networks import Discriminator


def test_mbstd_discriminator_students():
    torch.manual_seed(0)
    teacher = Discriminator(dataclasses.replace(tiny_net(), mbstd_group=2)).eval()
    for p in teacher.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(4, 1, 32, 32)
    same = make_student(teacher, 1.0, "teacher").eval()
    with torch.no_grad():
        torch.testing.assert_close(same(x), teacher(x))
    half = make_student(teacher, 0.5, "teacher").eval()
    head = half.stages[-1].transition[1]
    assert head.depthwise.weight.shape[0] == 8 + 1  # 16 * 0.5 stream channels + the statistic
    # the statistic's weights are copied from the teacher's last (extra) channel
    torch.testing.assert_close(head.depthwise.weight[-1], teacher.stages[-1].transition[1].depthwise.weight[-1])
    assert half(x).shape == (4,)
