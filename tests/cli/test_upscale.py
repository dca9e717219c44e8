"""`ganforge upscale` on tiny networks: formats (RGB, grey, alpha, 16-bit), folders, --outscale, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_png, read_file

from ganforge.cli.main import main
from ganforge.cli.upscale import _png16, read_image
from ganforge.networks.sr import SRDiscConfig, SRNetConfig, build_sr_discriminator, build_sr_generator, save_sr
from ganforge.networks.sr.inference import upscale_tensor

# torchvision's PNG codec (deprecated since 0.29) reads 16-bit outputs back independently of ganforge's writer.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("upscale")
    torch.manual_seed(0)
    net = build_sr_generator(SRNetConfig(num_feat=4, num_conv=1, scale=2)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    save_sr(net, root / "g.safetensors")
    save_sr(build_sr_discriminator(SRDiscConfig(num_feat=4)), root / "d.safetensors")
    torch.save({"params": {"fc.weight": torch.zeros(2)}}, root / "other.pth")
    return root, net


def upscale(*argv: str) -> int:
    return main(["upscale", *map(str, argv)])


def test_rgb_png_matches_the_network(tmp_path, weights):
    root, net = weights
    rgb = np.random.RandomState(0).randint(0, 256, (10, 13, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    assert upscale(tmp_path / "in.png", tmp_path / "out.png", "--weights", root / "g.safetensors", "--tile", "8") == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    expected = upscale_tensor(net, torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    expected = (expected.clamp(0, 1)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert out.shape == (20, 26, 3) and np.abs(out.astype(int) - expected).max() <= 1


def test_grey_alpha_and_outscale(tmp_path, weights):
    root, _ = weights
    grey = np.random.RandomState(1).randint(0, 256, (9, 11)).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    rgba = np.dstack([np.random.RandomState(2).randint(0, 256, (9, 11, 3)), np.full((9, 11), 128)]).astype(np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert upscale(tmp_path / "g.png", tmp_path / "g_out.png", "--weights", root / "g.safetensors") == 0
    with Image.open(tmp_path / "g_out.png") as img:
        assert img.mode == "L" and img.size == (22, 18)
    for alpha in ("bicubic", "net"):
        out = tmp_path / f"a_{alpha}.png"
        assert upscale(tmp_path / "a.png", out, "--weights", root / "g.safetensors", "--alpha", alpha) == 0
        with Image.open(out) as img:
            assert img.mode == "RGBA" and img.size == (22, 18)
            a = np.asarray(img)[:, :, 3]
        if alpha == "bicubic":
            assert (a == 128).all()  # a constant alpha stays constant
    assert upscale(tmp_path / "a.png", tmp_path / "o.png", "--weights", root / "g.safetensors", "--outscale", "3") == 0
    with Image.open(tmp_path / "o.png") as img:
        assert img.size == (33, 27)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_png_stays_16_bit(tmp_path, weights, channels):
    root, _ = weights
    rng = np.random.RandomState(channels)
    arr = rng.randint(0, 65536, (8, 10, channels)).astype(np.uint16)
    (tmp_path / "in.png").write_bytes(_png16(arr))
    pic = read_image(tmp_path / "in.png")  # our writer read back by libpng: exact values
    assert pic.bits == 16
    read_back = torch.cat([pic.color] + ([pic.alpha] if pic.alpha is not None else []), 1)[0].permute(1, 2, 0)
    assert np.array_equal((read_back * 65535).round().numpy().astype(np.uint16), arr)
    assert upscale(tmp_path / "in.png", tmp_path / "out.png", "--weights", root / "g.safetensors") == 0
    out = decode_png(read_file(str(tmp_path / "out.png")), mode=ImageReadMode.UNCHANGED)
    assert out.dtype == torch.uint16 and tuple(out.shape) == (channels, 16, 20)
    assert (out.to(torch.int32) % 257 != 0).any()  # not 8-bit values stretched to 16 bits


def test_pillow_16_bit_grey_png(tmp_path, weights):
    root, _ = weights
    Image.fromarray(np.arange(80, dtype=np.uint16).reshape(8, 10) * 800).save(tmp_path / "i16.png")
    assert read_image(tmp_path / "i16.png").bits == 16
    assert upscale(tmp_path / "i16.png", tmp_path / "o.png", "--weights", root / "g.safetensors") == 0
    out = decode_png(read_file(str(tmp_path / "o.png")), mode=ImageReadMode.UNCHANGED)
    assert out.dtype == torch.uint16 and tuple(out.shape) == (1, 16, 20)


def test_folder_in_folder_out(tmp_path, weights):
    root, _ = weights
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (6, 5), (10, 200, 30)).save(src / "a.jpg")
    Image.new("RGB", (7, 4), (90, 20, 30)).save(src / "b.webp")
    (src / "notes.txt").write_text("skipped")
    assert upscale(src, tmp_path / "out", "--weights", root / "g.safetensors") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    with Image.open(tmp_path / "out" / "b.png") as img:
        assert img.size == (14, 8)


def one_line_error(capsys, *argv) -> str:
    assert upscale(*argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganforge upscale: error:") and len(err.splitlines()) == 1, err
    return err


def test_bad_input_is_one_line(tmp_path, weights, capsys, monkeypatch):
    root, _ = weights
    g = root / "g.safetensors"
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_text("not an image")
    assert "cannot read this image" in one_line_error(capsys, tmp_path / "bad.png", tmp_path / "o.png", "--weights", g)
    assert "not an SRVGGNetCompact" in one_line_error(capsys, tmp_path / "ok.png", tmp_path / "o.png", "--weights",
                                                      root / "other.pth")
    assert "a discriminator" in one_line_error(capsys, tmp_path / "ok.png", tmp_path / "o.png", "--weights",
                                               root / "d.safetensors")
    assert "at least 8" in one_line_error(capsys, tmp_path / "ok.png", tmp_path / "o.png", "--weights", g,
                                          "--tile", "3")
    assert "end the output name in .png" in one_line_error(capsys, tmp_path / "ok.png", tmp_path / "o.jpg",
                                                           "--weights", g)
    assert "this is the input image" in one_line_error(capsys, tmp_path / "ok.png", tmp_path / "ok.png",
                                                       "--weights", g)
    monkeypatch.setenv("GANFORGE_MAX_SAMPLE_BYTES", "1000")
    assert "GANFORGE_MAX_SAMPLE_BYTES" in one_line_error(capsys, tmp_path / "ok.png", tmp_path / "o.png",
                                                         "--weights", g)
    assert not (tmp_path / "o.png").exists()
    with pytest.raises(SystemExit) as e:  # a missing input is a usage error at parse time
        upscale(tmp_path / "missing.png", tmp_path / "o.png", "--weights", g)
    assert e.value.code == 2
