"""Epoch-shuffled batch sampling: every image once per epoch, resumable, and class groups for conditional packing."""

import pytest
import torch
from helpers import tiny_dataset

from ganforge.data import BatchSampler, DatasetError, ImageDataset


def _epoch(sampler: BatchSampler, batches: int) -> torch.Tensor:
    return torch.cat([sampler.next_indices() for _ in range(batches)])


def test_an_epoch_visits_every_image_once_and_resumes_in_order():
    data = tiny_dataset(24)
    s = BatchSampler(data, 8, seed=3)
    first = _epoch(s, 3)
    assert sorted(first.tolist()) == list(range(24))
    state = s.state_dict()
    expected = _epoch(s, 4)
    resumed = BatchSampler(data, 8, seed=0)
    resumed.load_state_dict(state)
    assert torch.equal(_epoch(resumed, 4), expected)
    assert not torch.equal(first, expected[:24])  # a new epoch draws a new order


def test_class_groups_share_a_label_and_use_each_image_at_most_once_per_epoch():
    labels = torch.tensor([0] * 9 + [1] * 6 + [2] * 5)  # leftovers: 1, 0 and 1 image do not fill a group of 2
    data = ImageDataset(torch.zeros(20, 1, 32, 32, dtype=torch.uint8), labels, 3, "grouped")
    s = BatchSampler(data, 4, seed=1, group=2)
    epoch = s._perm
    assert len(epoch) == 8 + 6 + 4
    assert len(set(epoch.tolist())) == len(epoch)
    groups = labels[epoch].view(-1, 2)
    assert torch.equal(groups[:, 0], groups[:, 1])
    assert torch.bincount(groups[:, 0], minlength=3).tolist() == [4, 3, 2]
    for _ in range(10):  # across epoch boundaries the grouping holds
        _, c = s.next()
        assert torch.equal(c[0::2], c[1::2])


def test_grouping_is_ignored_without_labels_and_checked_otherwise():
    s = BatchSampler(tiny_dataset(10), 4, group=2)
    assert sorted(s._perm.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="multiple"):
        BatchSampler(tiny_dataset(10, num_classes=2), 3, group=2)
    singles = ImageDataset(torch.zeros(3, 1, 32, 32, dtype=torch.uint8), torch.tensor([0, 1, 2]), 3, "singles")
    with pytest.raises(DatasetError, match=r"net\.pack"):
        BatchSampler(singles, 4, group=4)
