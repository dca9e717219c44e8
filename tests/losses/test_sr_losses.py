"""Real-ESRGAN's perceptual loss: the layers and weights of the recipe, the VGG16 stand-in mapping, pre-activation
features, zero for identical images, and one-line errors for missing or foreign VGG19 files."""

import pytest
import torch
from safetensors.torch import save_file

from ganforge.errors import UserError
from ganforge.losses import sr as L


def small_loss(name: str = "vgg16") -> L.PerceptualLoss:
    return L.PerceptualLoss(L.make_vgg(name, width_divisor=16), L.layer_weights(name))


def test_layers_and_weights_follow_the_recipe():
    # VGG19 conv1_2, conv2_2, conv3_4, conv4_4, conv5_4 (torchvision indices), weights 0.1, 0.1, 1, 1, 1
    assert L.layer_weights("vgg19") == {2: 0.1, 7: 0.1, 16: 1.0, 25: 1.0, 34: 1.0}
    # the VGG16 stand-in: the last convolution of each block, conv1_2, conv2_2, conv3_3, conv4_3, conv5_3
    assert L.layer_weights("vgg16") == {2: 0.1, 7: 0.1, 14: 1.0, 21: 1.0, 28: 1.0}
    trunk = L.make_vgg("vgg19")
    assert all(isinstance(trunk[i], torch.nn.Conv2d) for i in L.layer_weights("vgg19"))


def test_zero_for_identical_images_positive_otherwise():
    loss = small_loss()
    x = torch.rand(2, 3, 32, 32)
    assert loss(x, x.clone()).item() == 0.0
    assert loss(x, (x + 0.05 * torch.randn_like(x)).clamp(0, 1)).item() > 0


def test_features_are_taken_before_the_relu_and_target_has_no_gradient():
    loss = small_loss()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    feats = loss.features(x)
    assert sorted(feats) == [2, 7, 14, 21, 28]
    assert all((f < 0).any() for f in feats.values())  # an in-place ReLU would have zeroed the negatives
    y = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(x, y).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and y.grad is None
    assert not any(p.requires_grad for p in loss.parameters())


def test_weights_scale_the_layer_terms():
    trunk = L.make_vgg("vgg16", width_divisor=16)
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    one = L.PerceptualLoss(trunk, {2: 1.0})(x, y)
    tenth = L.PerceptualLoss(trunk, {2: 0.1})(x, y)
    both = L.PerceptualLoss(trunk, {2: 0.1, 7: 1.0})(x, y)
    only7 = L.PerceptualLoss(trunk, {7: 1.0})(x, y)
    assert torch.allclose(tenth, 0.1 * one) and torch.allclose(both, tenth + only7)


def test_bf16_trunk_follows_fp32_and_keeps_fp32_outputs():
    # the trunk under BF16 autocast: the loss and the gradient G receives stay close to FP32's, in FP32
    torch.manual_seed(0)
    trunk = L.make_vgg("vgg16", width_divisor=16)
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    results = {}
    for precision in ("fp32", "bf16"):
        xi = x.clone().requires_grad_(True)
        loss = L.PerceptualLoss(trunk, L.layer_weights("vgg16"), precision)(xi, y)
        loss.backward()
        results[precision] = (loss.detach(), xi.grad.flatten())
    (l32, g32), (l16, g16) = results["fp32"], results["bf16"]
    assert l16.dtype == g16.dtype == torch.float32
    assert l16.item() == pytest.approx(l32.item(), rel=0.03) and l16.item() != l32.item()
    assert torch.nn.functional.cosine_similarity(g16, g32, dim=0) > 0.98


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        L.PerceptualLoss(L.make_vgg("vgg16", width_divisor=16), L.layer_weights("vgg16"), "fp16")


def test_missing_vgg19_file_is_one_line_saying_what_to_get(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "t"))
    monkeypatch.delenv(L.VGG19_ENV, raising=False)
    with pytest.raises(UserError) as e:
        L.pretrained_vgg("vgg19")
    msg = str(e.value)
    assert "\n" not in msg and L.VGG19_FILE in msg and L.VGG19_URL in msg and "sr.perceptual_weights" in msg
    monkeypatch.setenv(L.VGG19_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(UserError, match=r"nope\.pth does not exist"):
        L.pretrained_vgg("vgg19")


def test_a_foreign_vgg19_file_is_refused(tmp_path):
    path = tmp_path / "vgg19.safetensors"
    save_file({"features.0.weight": torch.zeros(8, 3, 3, 3)}, str(path))
    with pytest.raises(UserError, match="not a torchvision VGG19 state dict"):
        L.pretrained_vgg("vgg19", path)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a readable weights file"):
        L.pretrained_vgg("vgg19", tmp_path / "junk.pth")
