import pytest
import torch

from ganforge.compress.wavelet import haar_dwt, haar_dwt_multilevel, wavelet_loss


def test_haar_bands_of_a_2x2_block():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)  # a b / c d
    b = {k: float(v) for k, v in haar_dwt(x).items()}
    assert b == {"LL": 5.0, "LH": -1.0, "HL": -2.0, "HH": 0.0}


def test_edges_land_in_the_documented_bands():
    rows = torch.arange(8.0).view(1, 1, 8, 1).expand(1, 1, 8, 8) % 2  # alternates along height
    cols = rows.transpose(-1, -2)  # alternates along width
    b_rows, b_cols = haar_dwt(rows), haar_dwt(cols)
    assert b_rows["HL"].abs().sum() > 0 and b_rows["LH"].abs().sum() == 0 and b_rows["HH"].abs().sum() == 0
    assert b_cols["LH"].abs().sum() > 0 and b_cols["HL"].abs().sum() == 0 and b_cols["HH"].abs().sum() == 0
    checker = rows * cols + (1 - rows) * (1 - cols)
    b = haar_dwt(checker)
    assert b["HH"].abs().sum() > 0 and b["LH"].abs().sum() == 0 and b["HL"].abs().sum() == 0


def test_transform_is_orthonormal_and_multilevel_recurses_on_ll():
    x = torch.randn(2, 3, 8, 8)
    b = haar_dwt(x)
    energy = sum(v.square().sum() for v in b.values())
    assert energy == pytest.approx(float(x.square().sum()), rel=1e-5)
    levels = haar_dwt_multilevel(x, 5)
    assert [lv["HH"].shape[-1] for lv in levels] == [4, 2, 1]  # stops at 1x1
    assert torch.allclose(levels[1]["LH"], haar_dwt(b["LL"])["LH"])
    assert haar_dwt(torch.randn(1, 1, 5, 7))["LL"].shape[-2:] == (3, 4)  # odd sizes are edge-padded


def test_wavelet_loss_ignores_low_frequencies_and_sees_high_ones():
    a = torch.randn(2, 4, 8, 8)
    assert float(wavelet_loss(a, a.clone())) == 0.0
    assert float(wavelet_loss(a + 3.0, a)) == pytest.approx(0.0, abs=1e-6)  # constant offset: LL only
    noisy = a + 0.1 * torch.randn_like(a)
    assert float(wavelet_loss(noisy, a)) > 0
    all_bands = wavelet_loss(a + 3.0, a, bands=("LL", "LH", "HL", "HH"))
    assert float(all_bands) > 1.0
    with pytest.raises(ValueError):
        wavelet_loss(a, a[:, :2])
    with pytest.raises(ValueError):
        wavelet_loss(a, a, bands=("XX",))


def test_wavelet_loss_gradient_flows_to_the_prediction_only():
    pred = torch.randn(1, 2, 8, 8, requires_grad=True)
    target = torch.randn(1, 2, 8, 8, requires_grad=True)
    wavelet_loss(pred, target.detach(), levels=2).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0 and target.grad is None
