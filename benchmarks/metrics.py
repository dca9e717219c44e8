"""Speed of ganforge's evaluation against torch-fidelity on the same network, images and features, one run.

Part 1 (features + metrics): FID, KID, precision/recall on N real vs N generated 32x32 RGB images with the
Inception network: ganforge.metrics.evaluate_images vs torch_fidelity.calculate_metrics (same weights file:
--weights, else the standard cache, else random weights saved to a temp file: speed does not depend on them).
Part 2 (metric math only): FID, KID, precision/recall, density/coverage on N x D synthetic features.

Usage: python benchmarks/metrics.py [--num 10000] [--math-num 10000] [--dim 2048] [--json out.json]
       (--num 0 skips part 1; --no-torch-fidelity times ganforge alone)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def weights_path(explicit: str | None) -> tuple[str, str]:
    from ganforge.metrics.features.inception import InceptionWeightsError, resolve_inception_weights
    from ganforge.metrics.features.inception_net import empty_inception, random_init_

    try:
        return str(resolve_inception_weights(explicit, allow_download=False)), "pretrained"
    except InceptionWeightsError:
        path = Path(tempfile.gettempdir()) / "ganforge_bench_random_inception.pth"
        if not path.exists():
            torch.save(random_init_(empty_inception(), 0).state_dict(), path)
        return str(path), "random (pretrained file not on this machine; timing is the same)"


def image_sets(num: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked-MNIST reals and a perturbed copy as 'generated' images (3 x 32 x 32 uint8)."""
    from ganforge.data import load_dataset

    real = load_dataset("stacked-mnist", size=num, seed=0).images
    other = load_dataset("stacked-mnist", size=num, seed=1).images.float()
    noise = torch.randn(other.shape, generator=torch.Generator().manual_seed(2)) * 20
    return real, (other + noise).clamp(0, 255).to(torch.uint8)


def bench_pipeline(num: int, batch_size: int, weights: str, with_tf: bool) -> dict:
    from ganforge.metrics import evaluate_images

    real, fake = image_sets(num)
    sub = min(1000, num)
    res: dict = {"num": num}
    out, res["ganforge_s"] = timed(lambda: evaluate_images(
        real, fake, "fid,kid,pr", weights=weights, batch_size=batch_size, disk_cache=False, kid_subset_size=sub))
    res["ganforge"] = out
    print(json.dumps({"ganforge_s": res["ganforge_s"], "ganforge": out}), flush=True)
    if with_tf:
        import torch_fidelity

        class Images(torch.utils.data.Dataset):
            def __init__(self, x: torch.Tensor) -> None:
                self.x = x

            def __len__(self) -> int:
                return len(self.x)

            def __getitem__(self, i: int) -> torch.Tensor:
                return self.x[i]

        out, res["torch_fidelity_s"] = timed(lambda: torch_fidelity.calculate_metrics(
            input1=Images(fake), input2=Images(real), fid=True, kid=True, prc=True, batch_size=batch_size,
            feature_extractor="inception-v3-compat",  # torch-fidelity 0.4 would pick vgg16 for prc
            cuda=False, cache=False, verbose=False, feature_extractor_weights_path=weights, kid_subset_size=sub,
            save_cpu_ram=True))
        res["torch_fidelity"] = out
    return res


def bench_math(num: int, dim: int, with_tf: bool) -> dict:
    from ganforge.metrics import GaussianStats, fid_from_stats, kid_from_features
    from ganforge.metrics.neighbors import manifold_metrics

    g = torch.Generator().manual_seed(0)
    mix = torch.randn(dim, dim, generator=g) / dim ** 0.5
    real = torch.relu(torch.randn(num, dim, generator=g) @ mix)  # non-negative, correlated, like pool features
    fake = torch.relu(torch.randn(num, dim, generator=g) @ (1.1 * mix) + 0.02)
    res: dict = {"num": num, "dim": dim}
    ref, t_ref = timed(lambda: GaussianStats.from_features(real))
    _, t_factor = timed(ref.factor)
    fid, t_fid = timed(lambda: fid_from_stats(ref, GaussianStats.from_features(fake)))
    res["ganforge"] = {"fid": fid, "fid_s": t_ref + t_factor + t_fid, "fid_cached_reference_s": t_fid}
    terms: dict = {}
    (kid, _), res["ganforge"]["kid_s"] = timed(lambda: kid_from_features(real, fake, real_terms=terms))
    res["ganforge"]["kid"] = kid
    _, res["ganforge"]["kid_cached_reference_s"] = timed(lambda: kid_from_features(real, fake, real_terms=terms))
    pr, res["ganforge"]["pr_dc_s"] = timed(lambda: manifold_metrics(real, fake, pr_k=3, dc_k=5))
    res["ganforge"].update(pr)
    res["ganforge"]["fid_kid_s"] = res["ganforge"]["fid_s"] + res["ganforge"]["kid_s"]
    if with_tf:
        from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
        from torch_fidelity.metric_kid import kid_features_to_metric
        from torch_fidelity.metric_prc import prc_features_to_metric

        tf: dict = {}
        out, tf["fid_s"] = timed(lambda: fid_statistics_to_metric(
            fid_features_to_statistics(real), fid_features_to_statistics(fake), False))
        tf["fid"] = out["frechet_inception_distance"]
        out, tf["kid_s"] = timed(lambda: kid_features_to_metric(
            fake, real, kid_subsets=100, kid_subset_size=1000, rng_seed=2020, verbose=False, kid_kernel="poly",
            kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1))
        tf["kid"] = out["kernel_inception_distance_mean"]
        out, tf["pr_s"] = timed(lambda: prc_features_to_metric(fake, real, prc_neighborhood=3,
                                                               prc_batch_size=10000, save_cpu_ram=True,
                                                               verbose=False))
        tf.update(precision=out["precision"], recall=out["recall"], fid_kid_s=tf["fid_s"] + tf["kid_s"])
        res["torch_fidelity"] = tf
    return res


def table(report: dict) -> str:
    """Seconds per metric, ganforge next to torch-fidelity measured in the same run, and the speed-up."""
    rows = [("math", "fid (from features)", "fid_s", "fid_s"), ("math", "fid (cached reference)",
            "fid_cached_reference_s", None), ("math", "kid", "kid_s", "kid_s"),
            ("math", "kid (cached reference)", "kid_cached_reference_s", None), ("math", "pr (+dc)", "pr_dc_s", "pr_s"),
            ("pipeline", "features + fid,kid,pr", "ganforge_s", "torch_fidelity_s")]
    lines = [f"{'part':<9} {'work':<24} {'ganforge s':>11} {'torch-fidelity s':>17} {'speed-up':>9}"]
    for part, work, ours, theirs in rows:
        res = report.get(part)
        if not res:
            continue
        mine = res.get("ganforge", {}).get(ours, res.get(ours))
        other = (res.get("torch_fidelity", {}) if part == "math" else res).get(theirs) if theirs else None
        theirs_s = "-" if other is None else f"{other:.2f}"
        ratio = f"{other / mine:.2f}x" if mine and other else "-"
        lines.append(f"{part:<9} {work:<24} {mine:>11.2f} {theirs_s:>17} {ratio:>9}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=10_000, help="images per set for part 1 (0 skips it)")
    p.add_argument("--math-num", type=int, default=10_000, help="feature rows per set for part 2 (0 skips it)")
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--weights", help="FID Inception weights file")
    p.add_argument("--no-torch-fidelity", action="store_true")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    with_tf = not args.no_torch_fidelity
    report: dict = {"threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__}
    if args.math_num:
        report["math"] = bench_math(args.math_num, args.dim, with_tf)
        print(json.dumps(report["math"], indent=2), flush=True)
    if args.num:
        path, kind = weights_path(args.weights)
        report["pipeline"] = {"weights": kind, **bench_pipeline(args.num, args.batch_size, path, with_tf)}
        print(json.dumps(report["pipeline"], indent=2), flush=True)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
