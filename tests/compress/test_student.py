import pytest
import torch
from helpers import tiny_net

from ganforge.compress.student import (
    discriminator_layout,
    generator_layout,
    group_size_for,
    make_student,
    student_config,
    teacher_channel_init,
)
from ganforge.networks import Discriminator, Generator, NetworkConfig
from ganforge.training.presets import get_preset


def grouped_net(num_classes: int = 0, widths=(16, 16, 8, 8)) -> NetworkConfig:
    """Unequal widths (projections between stages), 4 groups of 8 per block: every index path is exercised."""
    return NetworkConfig(widths=list(widths), blocks=[2, 1, 1, 1], cardinalities=[4, 4, 2, 2], z_dim=8,
                         img_channels=3, num_classes=num_classes, g_embed_dim=4)


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero weights everywhere (fix-up init zeros conv3, which would hide indexing bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


def test_r3gan_widths_and_group_sizes_scale_as_in_the_papers():
    teacher = get_preset("stacked-mnist").net  # 768 wide, 96 groups of 16
    for c, width, card in ((0.5, 384, 48), (0.25, 192, 24), (0.125, 96, 12)):
        s = student_config(teacher, c)
        assert s.widths == [width] * 4 and s.cardinalities == [card] * 4
        assert all(w * s.expansion // k == 16 for w, k in zip(s.widths, s.cardinalities))
    assert (teacher.widths, teacher.cardinalities) == ([768] * 4, [96] * 4)  # the teacher config is untouched


def test_group_size_falls_back_to_largest_valid_divisor():
    assert group_size_for(48, 16) == 16
    assert group_size_for(40, 16) == 10
    assert group_size_for(14, 16) == 14
    s = student_config(NetworkConfig(widths=[40] * 4, blocks=[1] * 4, cardinalities=[5] * 4), 0.5)  # 80/5 = 16
    assert s.widths == [20] * 4 and s.cardinalities == [4] * 4  # 40 channels: groups of 10
    with pytest.raises(ValueError):
        student_config(tiny_net(), 0.0)


@pytest.mark.parametrize("num_classes", [0, 5])
def test_layouts_cover_every_tensor(num_classes):
    cfg = grouped_net(num_classes)
    assert set(generator_layout(cfg)[0]) == set(Generator(cfg).state_dict())
    assert set(discriminator_layout(cfg)[0]) == set(Discriminator(cfg).state_dict())


@pytest.mark.parametrize("kind", [Generator, Discriminator])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_fraction_one_reproduces_the_teacher(kind, num_classes):
    teacher = randomize(kind(grouped_net(num_classes)))
    student = make_student(teacher, 1.0, init="teacher")
    for (k, a), b in zip(teacher.state_dict().items(), student.state_dict().values()):
        assert torch.equal(a, b), k


def kill_channels(module: torch.nn.Module, drop: dict[str, list[int]], layout: dict) -> None:
    """Zero every weight slice that touches the given channels (so they are dead and have L1 norm 0)."""
    state = module.state_dict()
    with torch.no_grad():
        for name, axes in layout.items():
            t = state[name]
            for d, label in enumerate(axes):
                if label in drop:
                    t.index_fill_(d, torch.tensor(drop[label]), 0.0)
                if label is not None and label.startswith("~") and label[1:] in drop:
                    g = t.shape[1]
                    for ch in drop[label[1:]]:  # in-group input column of the group that holds ch
                        t[(ch // g) * g:(ch // g + 1) * g, ch % g] = 0.0


@pytest.mark.parametrize("kind", ["G", "D"])
def test_dropping_dead_channels_keeps_the_function(kind):
    """Channels selected by L1 norm: if exactly half the channels (and groups) are dead, the half-width student
    keeps the live ones and computes the same function as the teacher."""
    cfg = grouped_net(num_classes=3)
    teacher = randomize(Generator(cfg) if kind == "G" else Discriminator(cfg))
    layout, cards = (generator_layout if kind == "G" else discriminator_layout)(cfg)
    sets = {label for axes in layout.values() for label in axes if label and not label.startswith("~")}
    g = torch.Generator().manual_seed(1)
    drop = {}
    for name in sets:
        n = next(t.shape[d] for k, t in teacher.state_dict().items() for d, lab in enumerate(layout[k]) if lab == name)
        if name in cards:  # kill 2 of the 4 (or 1 of 2) groups, and nothing else
            gs = n // cards[name]
            dead_groups = torch.randperm(cards[name], generator=g)[:cards[name] // 2]
            drop[name] = [int(k) * gs + i for k in dead_groups for i in range(gs)]
        else:
            drop[name] = torch.randperm(n, generator=g)[:n // 2].tolist()
    kill_channels(teacher, drop, layout)
    student = make_student(teacher, 0.5, init="teacher")
    assert student.cfg.widths == [w // 2 for w in cfg.widths]
    z = torch.randn(4, cfg.z_dim)
    c = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        if kind == "G":
            a, b = teacher(z, c), student(z, c)
        else:
            x = torch.randn(4, 3, 32, 32)
            a, b = teacher(x, c), student(x, c)
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_teacher_init_is_deterministic_and_random_init_differs():
    teacher = randomize(Generator(tiny_net()))
    a, b = make_student(teacher, 0.25), make_student(teacher, 0.25)
    r = make_student(teacher, 0.25, init="random", seed=3)
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k
    assert any(not torch.equal(x, w) for x, w in zip(a.state_dict().values(), r.state_dict().values()))
    assert isinstance(r, Generator) and r.widths == [4] * 4


def test_kept_channels_are_the_largest_l1():
    """With one stream channel made dominant, a 1/16 student of a 16-wide G keeps exactly that channel."""
    cfg = NetworkConfig(widths=[16] * 4, blocks=[1] * 4, cardinalities=[2] * 4, z_dim=8, img_channels=1)
    teacher = randomize(Generator(cfg))
    with torch.no_grad():
        teacher.stages[0].transition.basis[11] *= 100
    student = make_student(teacher, 1 / 16)
    assert torch.equal(student.stages[0].transition.basis[0], teacher.stages[0].transition.basis[11])
    assert torch.equal(student.to_rgb.weight[:, 0], teacher.to_rgb.weight[:, 11])


def test_teacher_init_rejects_mismatched_kinds():
    with pytest.raises(TypeError):
        teacher_channel_init(Generator(tiny_net()), Discriminator(tiny_net()))


def test_a_discriminator_sized_apart_from_g_is_scaled_on_its_own_widths():
    """net.d_widths (tiny-dwide): the student's D is C x the teacher's D widths, teacher init covers every tensor,
    and C = 1 reproduces the teacher D."""
    cfg = NetworkConfig(widths=[16, 16, 8, 8], blocks=[2, 1, 1, 1], cardinalities=[4, 4, 2, 2], z_dim=8,
                        img_channels=3, num_classes=3, g_embed_dim=4, d_widths=[32, 32, 16, 16],
                        d_cardinalities=[8, 8, 4, 4])
    s = student_config(cfg, 0.5)
    assert (s.widths, s.d_widths, s.d_cardinalities) == ([8, 8, 4, 4], [16, 16, 8, 8], [4, 4, 2, 2])
    assert set(discriminator_layout(cfg)[0]) == set(Discriminator(cfg).state_dict())
    teacher = randomize(Discriminator(cfg))
    student = make_student(teacher, 0.5, init="teacher")
    assert student.from_rgb.out_channels == 8 and student.cfg.disc_widths == [16, 16, 8, 8]
    same = make_student(teacher, 1.0, init="teacher")
    for (k, a), b in zip(teacher.state_dict().items(), same.state_dict().values()):
        assert torch.equal(a, b), k
