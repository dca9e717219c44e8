"""Resumable, shardable epoch-shuffled batch sampling over an in-memory dataset."""

from __future__ import annotations

import torch

from ganforge.data.dataset import DatasetError, ImageDataset


class BatchSampler:
    """Draws batches from per-epoch permutations seeded by (seed, epoch): the data order is its state.

    With `group` > 1 on a labelled dataset, every run of `group` consecutive samples shares one class (a
    class-conditional PacGAN discriminator judges such a pack under one label); each class's leftover that does not
    fill a group waits for a later epoch's shuffle.
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 group: int = 1):
        if group > 1 and batch_size % group:
            raise ValueError(f"batch size {batch_size} is not a multiple of the class group {group}")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.group = group if dataset.labels is not None else 1
        self.rank, self.world_size = rank, world_size
        self.epoch, self.position = 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(len(self.dataset), generator=g)
        if self.group == 1:
            return perm
        labels = self.dataset.labels[perm]
        groups = []
        for k in labels.unique().tolist():
            members = perm[labels == k]
            usable = len(members) - len(members) % self.group
            groups.append(members[:usable].view(-1, self.group))
        groups = torch.cat(groups)
        if len(groups) == 0:
            raise DatasetError(f"{self.dataset.name}: no class has {self.group} images to fill one pack of the "
                               "class-conditional discriminator; lower net.pack or add images")
        return groups[torch.randperm(len(groups), generator=g)].flatten()

    def next_indices(self) -> torch.Tensor:
        """Indices of the next global batch, of which this rank keeps its contiguous share."""
        out = []
        need = self.batch_size * self.world_size
        while need > 0:
            take = self._perm[self.position:self.position + need]
            out.append(take)
            need -= len(take)
            self.position += len(take)
            if self.position >= len(self._perm):
                self.epoch, self.position = self.epoch + 1, 0
                self._perm = self._permutation()
        idx = torch.cat(out)
        return idx[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]

    def next(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 images and labels (or None) of the next batch, moved to device."""
        idx = self.next_indices()
        images = self.dataset.images[idx].to(device, non_blocking=True)
        labels = None if self.dataset.labels is None else self.dataset.labels[idx].to(device)
        return images, labels

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]
        self._perm = self._permutation()
