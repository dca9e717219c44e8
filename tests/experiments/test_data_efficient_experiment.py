"""experiments/data_efficient.py: each training-set size gets its own budget (larger sets need longer runs before D
overfits), pretrained_d.py follows the same sizes' budgets so it can take the ADA runs, and --budget overrides both."""

from __future__ import annotations

import data_efficient
import pretrained_d
import pytest
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


def test_gain_note_says_when_augmentation_is_worse_everywhere_and_which_sizes_have_one_seed():
    summary = {"n100-none": {data_efficient.FID_ALL: Stat(5.0, 0.5, 3)},
               "n100-diffaugment": {data_efficient.FID_ALL: Stat(10.0, 0.3, 3)},
               "n500-none": {data_efficient.FID_ALL: Stat(3.0, 0.2, 3)},
               "n500-diffaugment": {data_efficient.FID_ALL: Stat(15.0, 0.0, 1)}}
    note = data_efficient.gain_note(summary, "diffaugment", "none", "DiffAugment", "none")
    assert note == ["DiffAugment FID gain over none (of the means): 100 digits -100.0%, 500 digits -400.0% (1 seed); "
                    "worse than none at every size, so there is no gain to grow as the data shrink."]
