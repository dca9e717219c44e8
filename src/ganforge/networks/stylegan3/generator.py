"""StyleGAN3 generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"): ganforge's StyleGAN2 mapping
network, then Fourier-feature input and alias-free synthesis layers. Module and tensor names follow the official
`training/networks_stylegan3.py`, so official state dicts load with `strict=True`.

Config T is checked against outputs of the official code (tests/networks/stylegan3). Config R has no official
reference output here: its shapes, radially symmetric filters and rotation equivariance are tested instead.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ganforge.networks.stylegan2.generator import NOISE_MODES, MappingNetwork
from ganforge.networks.stylegan2.layers import FullyConnectedLayer
from ganforge.networks.stylegan3.config import LayerSpec, StyleGAN3Config
from ganforge.networks.stylegan3.ops import design_lowpass_filter, filtered_lrelu, modulated_conv2d

NoiseMode = Literal["random", "const", "none"]


class SynthesisInput(nn.Module):
    """Fourier features: sin(2 pi (f . x + phi)) for `channels` fixed random frequencies in a disc of radius
    `bandwidth`, rotated and translated per sample by an affine of w, then mixed by a learned matrix.

    Alias-Free GAN Sec. 3, "Fourier features" (config B) and "Transformed Fourier features" (config E). The
    `transform` buffer is a user-set inverse transform of the output image (identity by default), e.g. to
    translate or rotate the result continuously.
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, channels, size
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn([channels, 2])  # directions uniform; radii so that frequencies are uniform on the disc
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4)  # (r_c, r_s, t_x, t_y), starts at the identity transform
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)  # unit rotation (r_c, r_s), translation scaled alike
        zero, one = torch.zeros_like(t[:, 0]), torch.ones_like(t[:, 0])
        rot = torch.stack([t[:, 0], -t[:, 1], zero, t[:, 1], t[:, 0], zero, zero, zero, one], 1).reshape(n, 3, 3)
        shift = torch.stack([one, zero, -t[:, 2], zero, one, -t[:, 3], zero, zero, one], 1).reshape(n, 3, 3)
        m = rot @ shift @ self.transform.unsqueeze(0)  # inverse of: user transform, then translate, then rotate

        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]  # [N, C, 2]
        # Fade out frequencies that the user transform pushed beyond the band the first layer can carry.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        # Pixel centres in units of the input's sampling period, symmetric about 0 (the image centre).
        grid = torch.arange(self.size, device=w.device, dtype=torch.float32) + 0.5 - self.size / 2
        grid = grid / self.sampling_rate
        x = (grid.reshape(1, 1, -1, 1) * freqs[:, None, None, :, 0] + grid.reshape(1, -1, 1, 1)
             * freqs[:, None, None, :, 1] + phases[:, None, None, :])  # [N, H, W, C]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(nn.Module):
    """Modulated conv (demodulated, input scaled by 1/RMS EMA) then the filtered leaky ReLU between the layer's input
    and output sampling rates; ToRGB: 1x1 conv, no demodulation, linear, no resampling."""

    def __init__(self, w_dim: int, spec: LayerSpec, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, use_radial_filters: bool = False, conv_clamp: float | None = 256,
                 magnitude_ema_beta: float = 0.999) -> None:
        super().__init__()
        self.w_dim, self.spec, self.is_torgb = w_dim, spec, spec.is_torgb
        self.in_channels, self.out_channels = spec.in_channels, spec.out_channels
        self.in_size, self.out_size = spec.in_size, spec.out_size
        self.conv_kernel = 1 if spec.is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta
        self.affine = FullyConnectedLayer(w_dim, spec.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([spec.out_channels, spec.in_channels, self.conv_kernel,
                                                self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([spec.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # Alias-Free GAN Sec. 3, "Filtered nonlinearities": the nonlinearity runs at `lrelu_upsampling` times the
        # higher of the two rates; the up filter keeps the input band, the down filter the output band.
        tmp_rate = max(spec.in_sampling_rate, spec.out_sampling_rate) * (1 if spec.is_torgb else lrelu_upsampling)
        self.up_factor = tmp_rate // spec.in_sampling_rate
        self.down_factor = tmp_rate // spec.out_sampling_rate
        if self.up_factor * spec.in_sampling_rate != tmp_rate or self.down_factor * spec.out_sampling_rate != tmp_rate:
            raise ValueError(f"layer {spec.name}: sampling rates {spec.in_sampling_rate} -> {spec.out_sampling_rate} "
                             f"do not divide the nonlinearity's rate {tmp_rate}")
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not spec.is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not spec.is_torgb else 1
        self.down_radial = use_radial_filters and not spec.is_critically_sampled
        self.register_buffer("up_filter", design_lowpass_filter(up_taps, spec.in_cutoff, spec.in_half_width * 2,
                                                                tmp_rate))
        self.register_buffer("down_filter", design_lowpass_filter(down_taps, spec.out_cutoff,
                                                                  spec.out_half_width * 2, tmp_rate,
                                                                  radial=self.down_radial))
        # Padding (of the upsampled signal) so the output has out_size pixels; the extra half sample puts the
        # sample points symmetrically around the signal centre (the official "symmetric interpretation").
        pad_total = (spec.out_size - 1) * self.down_factor + 1
        pad_total -= (spec.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        self.padding = (pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo)

    def forward(self, x: torch.Tensor, w: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
        if update_emas:  # Alias-Free GAN Sec. 3, config C: EMA of the input's mean square
            with torch.no_grad():
                self.magnitude_ema.copy_(x.detach().float().square().mean().lerp(self.magnitude_ema,
                                                                                 self.magnitude_ema_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel**2))
        x = modulated_conv2d(x.float(), self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=self.magnitude_ema.rsqrt())
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, up=self.up_factor,
                              down=self.down_factor, padding=self.padding, gain=1 if self.is_torgb else math.sqrt(2),
                              slope=1 if self.is_torgb else 0.2, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"{s.name}: {s.in_channels}->{s.out_channels} ch, {s.in_size}->{s.out_size} px, rate "
                f"{s.in_sampling_rate}->{s.out_sampling_rate}, cutoff {s.in_cutoff:.3g}->{s.out_cutoff:.3g}, "
                f"up {self.up_factor}, down {self.down_factor}, radial={self.down_radial}")


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image: Fourier features (ws[:, 0]), layers L0 .. L{N} (ws[:, 1:]), times
    `output_scale`. Runs float32 on every device (official fp16 layers included)."""

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        self.w_dim, self.num_ws = cfg.w_dim, cfg.num_ws
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.output_scale = cfg.output_scale
        specs = cfg.layer_specs()
        first = specs[0]
        self.input = SynthesisInput(cfg.w_dim, first.in_channels, first.in_size, first.in_sampling_rate,
                                    first.in_cutoff)
        self.layer_names = [s.name for s in specs]
        for spec in specs:
            setattr(self, spec.name, SynthesisLayer(
                cfg.w_dim, spec, conv_kernel=cfg.conv_kernel, filter_size=cfg.filter_size,
                lrelu_upsampling=cfg.lrelu_upsampling, use_radial_filters=cfg.use_radial_filters,
                conv_clamp=cfg.conv_clamp, magnitude_ema_beta=cfg.magnitude_ema_beta))

    def forward(self, ws: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        w_list = ws.float().unbind(dim=1)
        x = self.input(w_list[0])
        for name, w in zip(self.layer_names, w_list[1:], strict=True):
            x = getattr(self, name)(x, w, update_emas=update_emas)
        return x * self.output_scale if self.output_scale != 1 else x


class Generator(nn.Module):
    """z [N, z_dim], c [N, c_dim] -> image [N, C, H, W] (roughly in [-1, 1]); `mapping` and `synthesis` are usable
    separately. In training mode the EMAs (w_avg, magnitude_ema) update, unless `update_emas=False` is passed."""

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, num_ws=self.num_ws,
                                      num_layers=cfg.mapping_layers, lr_multiplier=cfg.mapping_lr_multiplier,
                                      w_avg_beta=cfg.w_avg_beta)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: NoiseMode = "const", force_fp32: bool = True,
                update_emas: bool = True) -> torch.Tensor:
        """`noise_mode` and `force_fp32` are accepted for call compatibility with StyleGAN2 and the official code:
        StyleGAN3 has no noise inputs and ganforge's runs float32."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        update = self.training and update_emas
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          skip_w_avg_update=not update)
        return self.synthesis(ws, update_emas=update)

