import pytest
import torch
from compress_helpers import randomize, teacher_net

from ganforge.compress.embeddings import Embedder, build_embedder
from ganforge.compress.teacher_stats import (
    TeacherStatsError,
    compute_teacher_stats,
    load_teacher_stats,
    read_teacher_stats,
    teacher_digest,
    teacher_stats_for,
)
from ganforge.metrics.sampling import eval_latents
from ganforge.networks import Generator


class CountingEmbedder(Embedder):
    """Mean pixel value per channel pair, counting how many images it has seen."""

    name = "counting"

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen += images.shape[0]
        return torch.stack([images.mean(dim=(1, 2, 3)), images.square().mean(dim=(1, 2, 3))], dim=1)


def test_statistics_match_a_direct_computation():
    G = randomize(Generator(teacher_net(num_classes=3)))
    phi = CountingEmbedder()
    stats = compute_teacher_stats(G, {"c": phi}, num=10, batch_size=4, seed=5)
    z, c = eval_latents(10, G.z_dim, 3, 5)
    with torch.no_grad():
        f = phi(G(z, c)).double()
    assert torch.allclose(stats["c"]["mean"], f.mean(0)) and torch.allclose(stats["c"]["m2"], f.square().mean(0))
    assert phi.seen == 20  # 10 during the statistics, 10 here


def test_precompute_once_then_reuse(tmp_path):
    G = randomize(Generator(teacher_net()))
    phi = CountingEmbedder()
    path = tmp_path / "stats.safetensors"
    first, reused = teacher_stats_for(G, {"c": phi}, path, num=12, batch_size=5)
    assert not reused and phi.seen == 12 and path.exists()
    second, reused = teacher_stats_for(G, {"c": phi}, path, num=12, batch_size=5)
    assert reused and phi.seen == 12  # nothing recomputed
    assert torch.equal(first["c"]["mean"], second["c"]["mean"])
    _, meta = read_teacher_stats(path)
    assert meta == {"teacher": teacher_digest(G), "embedders": {"c": "counting"}, "num": 12, "seed": 0}
    # asking for more samples than stored recomputes
    _, reused = teacher_stats_for(G, {"c": phi}, path, num=20, batch_size=10)
    assert not reused and phi.seen == 32


def test_stats_of_another_teacher_or_embedder_are_refused(tmp_path, embed_name):
    G = randomize(Generator(teacher_net()))
    path = tmp_path / "stats.safetensors"
    teacher_stats_for(G, {"c": CountingEmbedder()}, path, num=4, batch_size=4)
    other = randomize(Generator(teacher_net()), seed=9)
    with pytest.raises(TeacherStatsError, match="another teacher"):
        load_teacher_stats(path, other, {"c": CountingEmbedder()})
    with pytest.raises(TeacherStatsError, match="no statistics"):
        load_teacher_stats(path, G, {"e": build_embedder(embed_name)})
    with pytest.raises(FileNotFoundError, match="teacher-stats"):
        load_teacher_stats(tmp_path / "missing.safetensors", G, {})


def test_digest_tracks_weights():
    G = randomize(Generator(teacher_net()))
    d = teacher_digest(G)
    assert d == teacher_digest(G)
    with torch.no_grad():
        next(G.parameters()).add_(1e-3)
    assert teacher_digest(G) != d
