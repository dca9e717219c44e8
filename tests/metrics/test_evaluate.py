"""evaluate_generator / evaluate_images with a stand-in generator and a tiny registered feature network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metrics_stubs import TinyGenerator

from ganforge.metrics import evaluate_generator, evaluate_images, generate_images
from ganforge.metrics.evaluate import EvalOptions, parse_metrics
from ganforge.metrics.sampling import eval_latents


def test_all_metrics_share_one_feature_pass_per_set(tiny_extractor, real_images, tmp_path, monkeypatch):
    import ganforge.metrics.evaluate as ev

    net, _ = tiny_extractor
    G = TinyGenerator()
    calls = []
    original = ev.manifold_metrics
    monkeypatch.setattr(ev, "manifold_metrics", lambda *a, **k: calls.append(k) or original(*a, **k))
    out = evaluate_generator(G, real_images, "fid,kid,pr,dc", num=200, features="tiny", kid_subset_size=100,
                             kid_subsets=10, cache_dir=tmp_path)
    assert net.images_seen == len(real_images) + 200  # one real pass + one generated pass for 4 metrics
    assert len(calls) == 1 and calls[0]["pr_k"] == 3 and calls[0]["dc_k"] == 5  # one distance pass for pr+dc
    assert set(out) == {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage"}
    assert all(np.isfinite(v) for v in out.values())


def test_matching_generator_beats_a_shifted_one(tiny_extractor, real_images, tmp_path):
    opts = EvalOptions(features="tiny", kid_subset_size=100, kid_subsets=10, cache_dir=tmp_path)
    good = evaluate_generator(TinyGenerator(), real_images, "fid,kid,pr,dc", num=300, options=opts)
    bad = evaluate_generator(TinyGenerator(shift=0.8), real_images, "fid,kid,pr,dc", num=300, options=opts)
    assert good["fid"] < bad["fid"] / 5
    assert good["kid"] < bad["kid"]
    assert good["precision"] > bad["precision"] and good["coverage"] > bad["coverage"]
    assert 0.5 < good["density"] < 1.5


def test_reference_features_are_cached_in_memory_and_on_disk(tiny_extractor, real_images, tmp_path):
    from ganforge.metrics.evaluate import _CACHES

    net, _ = tiny_extractor
    G = TinyGenerator()
    first = evaluate_generator(G, real_images, "fid", num=100, features="tiny", cache_dir=tmp_path)
    seen = net.images_seen
    second = evaluate_generator(G, real_images, "fid", num=100, features="tiny", cache_dir=tmp_path)
    assert net.images_seen == seen + 100  # only the generated images were run again
    assert second == first
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as f:  # readable as pytorch-fid statistics
        assert f["mu"].shape == (204,) and f["sigma"].shape == (204, 204) and len(f["features"]) == 300
    _CACHES.clear()  # a new process: memory is empty, the disk cache answers
    third = evaluate_generator(G, real_images, "fid", num=100, features="tiny", cache_dir=tmp_path)
    assert net.images_seen == seen + 200 and third["fid"] == pytest.approx(first["fid"], rel=1e-9)


def test_generation_is_reproducible_and_independent_of_batch_size(tiny_extractor, real_images):
    G = TinyGenerator()
    a = evaluate_generator(G, real_images, "fid", num=150, seed=3, batch_size=64, features="tiny", disk_cache=False)
    b = evaluate_generator(G, real_images, "fid", num=150, seed=3, batch_size=7, features="tiny", disk_cache=False)
    c = evaluate_generator(G, real_images, "fid", num=150, seed=4, features="tiny", disk_cache=False)
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-5)
    assert a["fid"] != c["fid"]
    assert len(generate_images(G, 37, seed=0, batch_size=10)) == 37


def test_conditional_generators_get_uniform_labels_from_the_seed():
    G = TinyGenerator(num_classes=10)
    images = generate_images(G, 2000, seed=5, batch_size=500)
    labels = torch.cat(G.seen_labels)
    assert images.dtype == torch.uint8 and len(labels) == 2000
    counts = torch.bincount(labels, minlength=10).double()
    assert counts.min() > 150 and counts.max() < 250  # uniform: 200 +- a few sigma
    _, again = eval_latents(2000, 16, 10, seed=5)
    assert torch.equal(labels, again)


def test_rfid_is_mean_and_std_over_seeded_random_networks(tiny_extractor, real_images):
    _, made = tiny_extractor
    opts = EvalOptions(rfid_seeds=3, disk_cache=False)
    out = evaluate_generator(TinyGenerator(shift=0.3), real_images, ["rfid@tiny-random"], num=200, options=opts)
    assert len(made) == 3  # one random network per seed, shared by the real and generated passes
    assert out["rfid@tiny-random"] > 0 and out["rfid_std@tiny-random"] > 0


def test_evaluate_images_on_tensors_and_metric_suffixes(tiny_extractor, real_images):
    fake = generate_images(TinyGenerator(), 120, seed=9)
    out = evaluate_images(real_images, fake, "fid@tiny,kid@tiny", kid_subset_size=50, kid_subsets=5,
                          disk_cache=False)
    assert set(out) == {"fid@tiny", "kid@tiny", "kid_std@tiny"}
    same = evaluate_images(real_images, real_images, "fid@tiny", disk_cache=False)
    assert same["fid@tiny"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(TypeError, match="uint8"):
        evaluate_images(real_images, fake.float(), "fid@tiny", disk_cache=False)


def test_bad_metric_names_and_options_are_rejected():
    with pytest.raises(ValueError, match="unknown metric 'fdi'"):
        parse_metrics("fid,fdi", EvalOptions())
    with pytest.raises(TypeError, match="unknown evaluation option"):
        evaluate_images(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
                        "fid", kid_subset=3)
    specs = parse_metrics("fid,modes,rfid,pr@vgg16", EvalOptions())
    assert [(s.metric, s.extractor) for s in specs] == [("fid", "inception"), ("modes", "classifier-mnist"),
                                                        ("rfid", "inception-random"), ("pr", "vgg16")]


def test_result_keys_name_what_evaluate_returns(tiny_extractor, real_images):
    from ganforge.metrics import result_keys

    metrics = "fid,kid@tiny,pr,dc"
    out = evaluate_generator(TinyGenerator(), real_images, metrics, num=60, features="tiny", kid_subset_size=20,
                             kid_subsets=3, disk_cache=False)
    assert sorted(out) == sorted(result_keys(metrics))
    assert result_keys("modes,rfid@x") == ["modes", "modes_kl", "modes_kl_marginal", "modes_tc", "modes_total",
                                            "rfid@x", "rfid_std@x"]
