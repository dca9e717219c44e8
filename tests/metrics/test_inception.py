"""The FID Inception loader: search order, the offline error, strict state-dict checks, TF-compatible forward."""

from __future__ import annotations

import pytest
import torch

from ganforge.metrics import InceptionWeightsError, build_extractor
from ganforge.metrics.features import inception as inc
from ganforge.metrics.features.inception_net import FIDInceptionV3, random_init_


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A random (but non-trivial, BN statistics included) state dict saved like the real .pth file."""
    net = random_init_(FIDInceptionV3(), 7)
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    path = tmp_path_factory.mktemp("w") / inc.WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """No weights anywhere: an empty torch hub dir, no env vars, and a download that must not happen."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(inc.ENV_WEIGHTS, raising=False)
    monkeypatch.delenv(inc.ENV_DOWNLOAD, raising=False)
    calls = []

    def fake_download(url, dst, progress=True):
        calls.append((url, dst))
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    return tmp_path / "hub" / "checkpoints", calls


def test_missing_weights_error_names_the_file_and_where_to_put_it(empty_hub):
    hub, calls = empty_hub
    with pytest.raises(InceptionWeightsError) as err:
        build_extractor("inception")
    msg = str(err.value)
    assert inc.WEIGHTS_FILE in msg
    assert str(hub / inc.WEIGHTS_FILE) in msg
    assert inc.ENV_WEIGHTS in msg and "--weights" in msg and "--allow-download" in msg
    assert calls == []  # offline by default: no download attempt


def test_download_is_tried_only_when_allowed_and_its_failure_is_reported(empty_hub):
    hub, calls = empty_hub
    with pytest.raises(InceptionWeightsError, match="network is unreachable"):
        inc.resolve_inception_weights(allow_download=True)
    assert calls == [(inc.WEIGHTS_URL, str(hub / inc.WEIGHTS_FILE))]


def test_explicit_missing_path_is_an_error_even_if_the_cache_has_weights(empty_hub, weights_file, tmp_path):
    hub, _ = empty_hub
    hub.mkdir(parents=True)
    (hub / inc.WEIGHTS_FILE).write_bytes(weights_file.read_bytes())
    with pytest.raises(InceptionWeightsError, match=r"nope\.pth"):
        inc.resolve_inception_weights(tmp_path / "nope.pth")
    assert inc.resolve_inception_weights() == hub / inc.WEIGHTS_FILE


def test_search_order_argument_env_then_hub(empty_hub, weights_file, monkeypatch, tmp_path):
    hub, _ = empty_hub
    hub.mkdir(parents=True)
    alt = hub / inc.ALT_WEIGHTS_FILES[0]  # torch-fidelity's file name is accepted
    alt.write_bytes(b"x")
    assert inc.resolve_inception_weights() == alt
    monkeypatch.setenv(inc.ENV_WEIGHTS, str(weights_file))
    assert inc.resolve_inception_weights() == weights_file
    other = tmp_path / "other.pth"
    other.write_bytes(b"y")
    assert inc.resolve_inception_weights(other) == other


def test_wrong_state_dict_is_rejected(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not an FID Inception-v3 state dict"):
        inc.build_inception(weights=path)


def test_loaded_weights_match_torch_fidelity_features(weights_file):
    tf_inc = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    ours = build_extractor("inception", weights=str(weights_file))
    theirs = tf_inc.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                feature_extractor_weights_path=str(weights_file))
    x = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = ours(x)["features"]
        b = theirs(x)[0]
    assert a.shape == (1, 2048)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().mean()))
    assert "inception" in ours.identity and ours.identity.endswith("tf1")


def test_tf1_resize_is_torch_fidelitys_bit_exact_resize():
    tf_interp = pytest.importorskip("torch_fidelity.interpolate_compat_tensorflow")
    x = torch.rand(2, 3, 17, 23) * 255
    ref = tf_interp.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    assert torch.equal(inc.tf1_resize(x, 299), ref)


def test_grey_images_are_repeated_to_rgb_and_float_input_is_refused():
    grey = torch.randint(0, 256, (1, 1, 8, 8), dtype=torch.uint8)
    x = inc.inception_input(grey, "pytorch-fid")
    assert x.shape == (1, 3, 299, 299) and torch.equal(x[:, 0], x[:, 2])
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    with pytest.raises(TypeError, match="uint8"):
        inc.inception_input(grey.float(), "tf1")


def test_random_inception_is_deterministic_per_seed():
    a, c = (build_extractor("inception-random", seed=s) for s in (0, 1))
    # the seed fixes the draws: the first layer is the first He-normal draw of Generator(seed), times the folded
    # identity BatchNorm's 1 / sqrt(1 + eps)
    first = a.net.Conv2d_1a_3x3.conv.weight
    expected = torch.randn(first.shape, generator=torch.Generator().manual_seed(0)) * (2 / 27) ** 0.5
    torch.testing.assert_close(first, expected * (1 + 1e-3) ** -0.5, rtol=1e-6, atol=0)
    assert not torch.equal(first, c.net.Conv2d_1a_3x3.conv.weight)
    assert a.identity == "inception-random-seed0-tf1" != c.identity
    x = torch.rand(2, 3, 80, 80, generator=torch.Generator().manual_seed(1)) * 2 - 1  # 80 px: cheap, still valid
    with torch.no_grad():
        fa, fc = a.net(x), c.net(x)
    assert fa.shape == (2, 2048) and torch.isfinite(fa).all()
    assert 0.05 < float(fa.std()) < 100  # He init: features neither vanish nor explode through 94 convs
    assert not torch.allclose(fa, fc)


def test_folding_batchnorm_keeps_the_features():
    import copy

    from ganforge.metrics.features.inception_net import empty_inception, fold_batchnorm_, random_init_

    net = random_init_(empty_inception(), 3).eval()
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():  # non-trivial BatchNorm statistics, like the pretrained network's
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    folded = fold_batchnorm_(copy.deepcopy(net))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 299, 299, generator=g) * 2 - 1
    with torch.no_grad():
        a, b = net(x), folded(x)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(a.abs().max()))
