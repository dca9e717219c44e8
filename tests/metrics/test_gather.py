"""Distributed evaluation: each rank embeds its shard, the gathered features give single-process metrics."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from metrics_stubs import TinyGenerator

from ganforge.metrics import evaluate_generator, evaluate_images
from ganforge.metrics.gather import any_rank, broadcast_json, gather_rows, shard_bounds
from ganforge.metrics.sampling import generate_images, iter_generated

METRICS = "fid,kid,pr,dc,rfid@tiny-random"
OPTS = dict(features="tiny", rfid_seeds=2, kid_subset_size=50, kid_subsets=5,
            disk_cache=False)

WORKER = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {stubs!r})
    import torch
    import torch.distributed as dist
    from metrics_stubs import CountingNet, TinyGenerator
    from ganforge.metrics import evaluate_generator, evaluate_images, register_extractor
    from ganforge.metrics.gather import any_rank, broadcast_json, gather_rows
    from ganforge.metrics.sampling import generate_images

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    net = CountingNet()
    register_extractor("tiny", net, channels=3)
    register_extractor("tiny-random", lambda seed=0: CountingNet(seed + 100))
    opts = json.loads({opts!r})
    real = generate_images(TinyGenerator(), 301, seed=12345)
    out = {{"gen": evaluate_generator(TinyGenerator(), real, {metrics!r}, num=203, distributed=True, **opts)}}
    out["seen_after_gen"] = net.images_seen
    out["images"] = evaluate_images(real, generate_images(TinyGenerator(shift=0.3), 97), "fid,kid", distributed=True,
                                    **opts)
    rows = torch.arange(rank * 10, rank * 10 + 2 + 3 * rank, dtype=torch.int64).view(-1, 1).repeat(1, 2)
    out["gathered"] = gather_rows(rows).tolist()
    out["any"] = [any_rank(rank == 1), any_rank(False)]
    out["bcast"] = broadcast_json({{"from": rank}})
    import ganforge.metrics.evaluate as ev
    if rank == 0:  # a metric that fails on rank 0 must fail on every rank instead of leaving them waiting
        def boom(*a, **k):
            raise ValueError("features contain NaN")
        ev._compute = boom
    try:
        evaluate_images(real, real[:50], "fid", distributed=True, **opts)
    except ValueError as e:
        out["error"] = str(e)
    with open(os.path.join({out!r}, f"rank{{rank}}.json"), "w") as f:
        json.dump(out, f)
    dist.destroy_process_group()
""")


def test_shard_bounds_partition_the_samples():
    for num in (0, 1, 5, 203, 1000):
        for world in (1, 2, 3, 8):
            bounds = [shard_bounds(num, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == num
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            sizes = [b - a for a, b in bounds]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="outside a world"):
        shard_bounds(10, 2, 2)


def test_single_process_helpers_are_identities():
    x = torch.randn(5, 3)
    assert gather_rows(x) is x
    assert any_rank(True) and not any_rank(False)
    assert broadcast_json({"a": 1.5}) == {"a": 1.5}


def test_generated_shards_are_the_same_images_as_the_full_sequence():
    G = TinyGenerator()
    full = generate_images(G, 23, seed=4, batch_size=5)
    parts = [torch.cat(list(iter_generated(G, 23, 4, 5, start=a, stop=b))) for a, b in [(0, 11), (11, 23)]]
    assert torch.equal(torch.cat(parts), full)
    with pytest.raises(ValueError, match="not within"):
        next(iter_generated(G, 23, 4, 5, start=20, stop=30))


def test_distributed_flag_is_a_no_op_in_one_process(tiny_extractor, real_images):
    a = evaluate_generator(TinyGenerator(), real_images, "fid,kid", num=120, **OPTS)
    b = evaluate_generator(TinyGenerator(), real_images, "fid,kid", num=120, distributed=True, **OPTS)
    assert a == b
    with pytest.raises(ValueError, match="one tensor"):
        evaluate_images(real_images, iter([real_images]), "fid", distributed=True, **OPTS)


@pytest.mark.slow
def test_two_gloo_ranks_shard_the_passes_and_match_one_process(tiny_extractor, tmp_path):
    real = generate_images(TinyGenerator(), 301, seed=12345)
    expected_gen = evaluate_generator(TinyGenerator(), real, METRICS, num=203, **OPTS)
    expected_images = evaluate_images(real, generate_images(TinyGenerator(shift=0.3), 97), "fid,kid", **OPTS)
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(stubs=str(Path(__file__).parent), opts=json.dumps(OPTS), metrics=METRICS,
                                    out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for out in ranks:
        assert out["gen"].keys() == expected_gen.keys()
        for key, value in expected_gen.items():
            assert out["gen"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
        for key, value in expected_images.items():
            assert out["images"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
        assert out["gathered"] == [[i, i] for i in (0, 1)] + [[i, i] for i in (10, 11, 12, 13, 14)]
        assert out["any"] == [True, False]
        assert out["bcast"] == {"from": 0}
        assert "features contain NaN" in out["error"]
    assert ranks[1]["error"].startswith("evaluation failed on rank 0: ValueError")
    # each rank embedded its shard of the 301 reals and 203 fakes once: about half of a single-process pass
    assert [out["seen_after_gen"] for out in ranks] == [150 + 101, 151 + 102]
