"""experiments/data_efficient.py: each training-set size gets its own budget (larger sets need longer runs before D
overfits), pretrained_d.py follows the same budgets so it can take the ADA runs, --budget overrides both, and the
D-overfit measures (the slides' ratio and the offset-free AUC) reach the page."""

from __future__ import annotations

import data_efficient
import pretrained_d
import pytest
import torch
from aggregate import Stat
from test_experiment_runs import claim_args


def budgets(module, **kw) -> dict[str, float | None]:
    exp = module.make(claim_args(module, out="unused", **kw))
    return {a.name: a.budget for a in exp.arms}


def test_each_size_trains_its_own_budget_in_both_experiments():
    de, pd = budgets(data_efficient), budgets(pretrained_d)
    assert {de[f"n{n}-none"] for n in (100, 500, 1000)} == {100.0, 200.0, 300.0}
    assert de["n100-none"] < de["n500-none"] < de["n1000-none"] == de["n1000-ada"]
    assert all(pd[f"n{n}-{k}"] == de[f"n{n}-ada"] for n in (100, 500, 1000) for k in ("aug", "va1", "projected"))
    exp = data_efficient.make(claim_args(data_efficient, out="unused", sizes="100,500", size_kimg="100:40,500:80"))
    assert [a.budget for a in exp.arms] == [40.0] * 3 + [80.0] * 3
    assert exp.notes["budget"] == "equal kimg per arm at each size: 100 digits 40 kimg, 500 digits 80 kimg"


def test_budget_flag_gives_every_arm_the_same_length():
    assert set(budgets(data_efficient, budget=20.0).values()) == {None}
    assert set(budgets(pretrained_d, budget=20.0, sizes="100").values()) == {None}


@pytest.mark.parametrize("flags, message", [({"size_kimg": "100:100,500:200"}, "missing: 1000"),
                                           ({"size_kimg": "100=100"}, "size:kimg pairs"),
                                           ({"size_kimg": "100:0,500:1,1000:1"}, "positive budget"),
                                           ({"sizes": "100,five"}, "sizes as integers")])
def test_bad_sizes_and_budgets_are_refused_in_one_line(flags, message):
    with pytest.raises(SystemExit, match=message):
        data_efficient.make(claim_args(data_efficient, out="unused", **flags))


def test_page_note_gives_the_overfit_ratio_and_its_two_sides():
    one = lambda m, sd=0.1: Stat(m, sd, 3)  # noqa: E731
    summary = {"n100-none": {"d_overfit": one(1.3, 0.9), "d_train": one(0.5), "d_heldout": one(0.2),
                             "d_generated": one(0.25)},
               "n500-none": {"d_overfit": one(-0.5, 1.3)}}
    notes = data_efficient.page_notes(summary)
    assert notes[0] == ("D-overfit ratio without augmentation, 100 digits: 1.3 ± 0.9 (clearly above 0; "
                        "E[D_train] - E[D_held-out] +0.3, E[D_train] - E[D_generated] +0.25).")
    assert notes[1] == "D-overfit ratio without augmentation, 500 digits: -0.5 ± 1.3 (not clearly above 0)."


def test_page_note_gives_the_offset_free_auc_beside_the_ratio():
    summary = {"n500-none": {"d_overfit": Stat(-0.2, 0.9, 3), "d_auc": Stat(0.62, 0.03, 3)},
               "n1000-none": {"d_overfit": Stat(0.4, 0.1, 3), "d_auc": Stat(0.52, 0.04, 3)}}
    notes = data_efficient.page_notes(summary)
    assert notes[0].endswith("(not clearly above 0; D scores a training input above a held-out one with "
                             "probability 0.62 ± 0.03 (above chance, 0.5)).")
    assert "0.52 ± 0.04 (not clearly above chance, 0.5)" in notes[1]
    one = data_efficient.page_notes({"n1000-none": {"d_overfit": Stat(0.4, 0.0, 1), "d_auc": Stat(0.55, 0.0, 1)}})
    assert one == ["D-overfit ratio without augmentation, 1000 digits: 0.4 (1 seed: no spread yet; D scores a "
                   "training input above a held-out one with probability 0.55 (1 seed; chance is 0.5))."]


def packed_d(pack: int) -> torch.nn.Module:
    """A tiny R3GAN D judging `pack` images per input, without minibatch-std, seeded."""
    import dataclasses

    from helpers import tiny_net

    from ganforge.networks import make_networks

    torch.manual_seed(0)
    return make_networks(dataclasses.replace(tiny_net(), pack=pack, mbstd_group=0))[1]


def test_d_logits_keeps_one_score_per_input_in_order():
    """d_logits scores each packed input once, whatever the batching, so the AUC compares the right inputs."""
    from augment_comparison import d_logits, mean_logit

    D = packed_d(2)
    images = torch.randint(0, 256, (21, 1, 32, 32), dtype=torch.uint8)
    scores = d_logits(D, images, batch=6)
    assert scores.shape == (10,)  # 21 images, packs of 2: the last image dropped
    assert torch.allclose(scores, d_logits(D, images[:20], batch=20), atol=1e-5)
    assert mean_logit(D, images, batch=6) == pytest.approx(float(scores.sum()) / 20, rel=1e-6)  # per image


def test_d_auc_sees_a_discriminator_that_memorised_its_training_images(monkeypatch, tmp_path):
    """A D that scores its training images higher than held-out ones gets an AUC near 1; the ratio's parts agree."""

    class Memoriser(torch.nn.Module):
        def __init__(self, train: torch.Tensor) -> None:
            super().__init__()
            self.train_set = {bytes(x.numpy().tobytes()) for x in train}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            u8 = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            return torch.tensor([1.0 if bytes(i.numpy().tobytes()) in self.train_set else 0.0 for i in u8])

    gen = torch.Generator().manual_seed(0)
    train, held = (torch.randint(0, 256, (n, 1, 8, 8), generator=gen, dtype=torch.uint8) for n in (40, 60))
    monkeypatch.setattr("ganforge.training.load.load_discriminator", lambda path: Memoriser(train))
    monkeypatch.setattr("ganforge.metrics.generate_images", lambda G, n, seed: held[:n])
    out = data_efficient.d_overfit(None, tmp_path, train, held)
    assert out["d_auc"] == pytest.approx(1.0)
    assert out["d_train"] == 1.0 and out["d_heldout"] == 0.0 and out["d_overfit"] == pytest.approx(1.0)


def fid_summary(**arms: float | tuple[float, float, int]) -> dict[str, dict[str, Stat]]:
    """A page summary of FID (all digits) per arm: n100_ada=5.2 is 5.2 ± 0.1 over 3 seeds; a tuple gives all three."""
    return {k.replace("_", "-"): {data_efficient.FID_ALL: Stat(*v) if isinstance(v, tuple) else Stat(v, 0.1, 3)}
            for k, v in arms.items()}


def test_gain_note_says_when_augmentation_is_worse_everywhere_and_which_sizes_have_one_seed():
    summary = fid_summary(n100_none=5.0, n100_diffaugment=10.0, n500_none=3.0, n500_diffaugment=(15.0, 0.0, 1))
    note = data_efficient.gain_note(summary, "diffaugment", "none", "DiffAugment", "none")
    assert note == ["DiffAugment FID gain over none (of the means): 100 digits -100.0%, 500 digits -400.0% (1 seed); "
                    "worse than none at every size, so there is no gain to grow as the data shrink."]
    assert "Why DiffAugment does worse here" in data_efficient.page_notes(summary)[-1]
    summary.update(fid_summary(n500_diffaugment=2.0))  # better at 500: no such pointer
    assert not any("Why DiffAugment" in line for line in data_efficient.page_notes(summary))


def test_d_overfit_gives_logits_per_image_for_a_packed_discriminator(monkeypatch, tmp_path):
    """The ratio's parts keep mean_logit's unit (per image), so runs evaluated before and after d_auc compare."""
    from augment_comparison import mean_logit

    D = packed_d(4)
    train, held = (torch.randint(0, 256, (n, 1, 32, 32), dtype=torch.uint8) for n in (40, 80))
    monkeypatch.setattr("ganforge.training.load.load_discriminator", lambda path: D)
    monkeypatch.setattr("ganforge.metrics.generate_images", lambda G, n, seed: held[:n].flip(0))
    out = data_efficient.d_overfit(None, tmp_path, train, held)
    assert out["d_train"] == pytest.approx(mean_logit(D, train), rel=1e-5)
    assert out["d_heldout"] == pytest.approx(mean_logit(D, held), rel=1e-5)


def test_gain_note_does_not_call_a_rise_from_a_loss_a_growing_gain():
    summary = fid_summary(n100_none=5.6, n100_ada=5.2, n500_none=2.8, n500_ada=3.6)
    note = data_efficient.gain_note(summary, "ada", "none", "ADA", "none")
    assert note == ["ADA FID gain over none (of the means): 100 digits +7.1%, 500 digits -28.6%; it rises as the "
                    "data shrink, but ADA is worse than none at 500 digits."]
