import importlib.util

import pytest
import torch
from safetensors.torch import save_file

from ganforge.compress.dino import DINO_FILE, EmbeddingUnavailableError, VisionTransformer, dino_search_paths
from ganforge.compress.embeddings import RegistryEmbedder, build_embedder, load_clip, load_dino
from ganforge.metrics.features import build_extractor
from ganforge.perceptual import WeightsNotFoundError


def test_dino_missing_weights_name_the_file_and_the_places(monkeypatch, tmp_path):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANFORGE_DINO_WEIGHTS", raising=False)
    with pytest.raises(EmbeddingUnavailableError) as e:
        load_dino()
    msg = str(e.value)
    assert DINO_FILE in msg and "GANFORGE_DINO_WEIGHTS" in msg and str(tmp_path / "cache" / "weights") in msg
    assert isinstance(e.value, FileNotFoundError)  # the CLI turns it into a clean error message


def test_dino_loads_an_official_layout_state_dict(monkeypatch, tmp_path):
    torch.manual_seed(0)
    net = VisionTransformer()
    path = tmp_path / "dino.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    monkeypatch.setenv("GANFORGE_DINO_WEIGHTS", str(path))
    assert dino_search_paths()[0] == path
    phi = load_dino(size=32)  # 2x2 patches: the 14x14 positional grid is interpolated
    images = torch.rand(2, 1, 32, 32) * 2 - 1
    out = phi(images)
    assert out.shape == (2, 384) and phi.identity == "dino-s32"
    x = ((images.expand(-1, 3, -1, -1) + 1) / 2 - phi.mean) / phi.std
    assert torch.allclose(out, net.eval()(x), atol=1e-5)
    assert not any(p.requires_grad for p in phi.parameters())


def test_clip_without_weights_or_packages_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("GANFORGE_CLIP_WEIGHTS", raising=False)
    with pytest.raises(EmbeddingUnavailableError, match="GANFORGE_CLIP_WEIGHTS"):
        load_clip()
    if importlib.util.find_spec("open_clip") or importlib.util.find_spec("transformers"):
        return
    weights = tmp_path / "clip.bin"
    weights.write_bytes(b"0")
    with pytest.raises(EmbeddingUnavailableError, match="open_clip_torch"):
        load_clip(weights)


def test_registered_module_embedder_matches_the_registry_and_is_differentiable(embed_name):
    phi = build_embedder(embed_name)
    images = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8)
    expected = build_extractor(embed_name)(images)["features"]
    x = (images.float() / 127.5 - 1).requires_grad_(True)
    out = phi(x)
    assert out.shape == expected.shape == (3, 5)
    assert torch.allclose(out, expected, atol=1e-5)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_imagenet_trunk_embedder_uses_the_registry_scale():
    try:
        phi = RegistryEmbedder("vgg16", size=32)
    except WeightsNotFoundError:
        pytest.skip("VGG16 weights not set up (python -m ganforge.perceptual.setup_weights)")
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    expected = phi.extractor(images)["features"]
    x = (images.float() / 127.5 - 1).requires_grad_(True)
    out = phi(x)
    assert out.shape == (2, 512) and torch.allclose(out, expected, atol=1e-4)
    out.sum().backward()
    assert x.grad.abs().sum() > 0


def test_uint8_only_extractors_are_refused():
    phi = build_embedder("inception-random")
    with pytest.raises(TypeError, match="cannot be a differentiable embedding"):
        phi(torch.zeros(1, 3, 32, 32))
