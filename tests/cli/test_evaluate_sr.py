"""`ganforge evaluate-sr` on a tiny x2 network and a folder of HR images: the scores are the metrics' own on the
drawn pairs, bicubic upsampling is scored beside the model, and bad input ends in one line (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganforge.cli.main import main
from ganforge.data.degradation import DegradationConfig
from ganforge.data.sr_pairs import SRPairSampler, load_hr_images
from ganforge.metrics.features.registry import register_extractor, unregister_extractor
from ganforge.metrics.sr import fid_on_crops, psnr, ssim
from ganforge.networks.sr import SRDiscConfig, SRNetConfig, build_sr_discriminator, build_sr_generator, save_sr
from ganforge.training.sr_task import quantize


class Stats(nn.Module):
    """A tiny feature extractor: the mean colour and its spread per crop."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate-sr")
    torch.manual_seed(0)
    net = build_sr_generator(SRNetConfig(num_feat=4, num_conv=1, scale=2)).eval()
    save_sr(net, root / "g.safetensors")
    save_sr(build_sr_discriminator(SRDiscConfig(num_feat=4)), root / "d.safetensors")
    rng = np.random.RandomState(0)
    (root / "hr").mkdir()
    for i in range(3):  # smooth gradients plus noise: images bicubic upsampling does not restore exactly
        ramp = np.linspace(0, 200, 48)[None, :, None] + rng.randint(0, 55, (40, 48, 3))
        Image.fromarray(ramp.astype(np.uint8)).save(root / "hr" / f"{i}.png")
    register_extractor("evaluate-sr-stats", Stats(), overwrite=True)
    yield root, net
    unregister_extractor("evaluate-sr-stats")


def evaluate_sr(root, *argv: str) -> int:
    return main(["evaluate-sr", str(root / "g.safetensors"), "--data", str(root / "hr"), "--pairs", "4", "--crop",
                 "32", "--lpips", "none", "--fid-features", "evaluate-sr-stats", "--fid-patch", "16", *argv])


def test_scores_are_the_metrics_of_the_drawn_pairs_beside_bicubic(setup, capsys):
    root, net = setup
    assert evaluate_sr(root, "--json", str(root / "out" / "r.json")) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["metric", "model", "bicubic"] and "fid_crops@evaluate-sr-stats" in table
    record = json.loads((root / "out" / "r.json").read_text())
    assert record["scale"] == 2 and record["pairs"] == 4
    lr, hr = SRPairSampler(load_hr_images(str(root / "hr"), 32), 32, 2, 4, 2_000_000, DegradationConfig(mode="bicubic"),
                           hflip=False).next()
    with torch.no_grad():
        sr = quantize(net(lr))
    up = quantize(F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False))
    for name, x in (("model", sr), ("bicubic", up)):
        got = record["results"][name]
        assert got["psnr"] == pytest.approx(float(psnr(x, hr, crop_border=2).mean()), rel=1e-5)
        assert got["ssim"] == pytest.approx(float(ssim(x, hr, crop_border=2).mean()), rel=1e-5)
        assert got["fid_crops@evaluate-sr-stats"] == pytest.approx(fid_on_crops(x, hr, 16, "evaluate-sr-stats"),
                                                                   rel=1e-4)
    assert record["results"]["bicubic"]["psnr"] > record["results"]["model"]["psnr"]  # an untrained net loses


@pytest.mark.parametrize("argv, message", [
    (["--crop", "33"], "--crop 33 is not a multiple of the network's scale 2; use 32"),
    (["--fid-patch", "64"], "--fid-patch 64 is larger than the pairs"),
    (["--fid-features", "nope"], "no feature extractor 'nope'; registered: alexnet"),
    (["--fid-features", "classifier-mnist"], "fid_crops: classifier-mnist was trained on handwritten digits alone"),
    (["--pairs", "100000", "--crop", "512"], "need 1171.9 GiB; use fewer or smaller pairs, or raise the limit"),
    (["--crop", "64"], "every image smaller than the 64x64 HR crop"),
])
def test_bad_input_is_one_line_and_exit_2(setup, capsys, argv, message):
    root, _ = setup
    assert evaluate_sr(root, *argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_discriminator_is_refused(setup, capsys):
    root, _ = setup
    assert main(["evaluate-sr", str(root / "d.safetensors"), "--lpips", "none"]) == 2
    assert "a discriminator, not an SR generator" in capsys.readouterr().err
