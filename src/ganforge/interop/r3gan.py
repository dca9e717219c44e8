"""Official R3GAN (brownvc/R3GAN) G, G_ema and D records -> ganforge's own Generator / Discriminator.

The official networks are R3GAN Config E like ganforge's; only names and two conventions differ. Its resampling
filters pad the image with zeros, ganforge's clamp to the edge, so imported models set `net.resample_border="zero"`
(a config option of ganforge's networks, not a weight transform). The shape config is inferred from the records and
every official tensor is mapped to exactly one ganforge tensor of the same shape before a strict load; anything
else is a UserError naming the tensor.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, NoReturn

import torch

from ganforge.errors import UserError
from ganforge.interop.official_pickle import Record, state_dict
from ganforge.networks import Discriminator, Generator, NetworkConfig
from ganforge.training.checkpoint import load_module

OFFICIAL_G = "training.networks.Generator"
OFFICIAL_D = "training.networks.Discriminator"
_NET = "R3GAN.Networks."
# The official default ResamplingFilter [1, 2, 1] convolved with [1, 1]: the bilinear [1, 3, 3, 1] tent, normalised.
_TENT = torch.outer(torch.tensor([1.0, 3.0, 3.0, 1.0]), torch.tensor([1.0, 3.0, 3.0, 1.0])) / 64.0
_LOW_PRECISION = (torch.bfloat16, torch.float16)


@dataclass
class R3GANImport:
    """The converted networks, their shape config and what was read about the official ones (for provenance)."""

    net: NetworkConfig
    G: Generator
    G_ema: Generator
    D: Discriminator
    info: dict[str, Any] = field(default_factory=dict)


def _fail(message: str) -> NoReturn:
    raise UserError(f"R3GAN import: {message}")


def _model(rec: Any, wrapper: str, name: str) -> Record:
    """The official `training.networks.*` wrapper's `Model` child, checked to be the R3GAN network it claims."""
    if not isinstance(rec, Record) or rec.class_name != wrapper:
        got = rec.class_name if isinstance(rec, Record) else type(rec).__name__
        _fail(f"{name} is {got}, expected {wrapper}; the file is not an official R3GAN snapshot")
    model = rec.child("Model")
    if model.class_name != _NET + wrapper.rsplit(".", 1)[1]:
        _fail(f"{name}.Model is {model.class_name}; the file is not an official R3GAN snapshot")
    return model


def _indexed(rec: Record, what: str) -> list[Record]:
    """Children of a ModuleList named 0..n-1, in order."""
    kids = rec.children()
    if sorted(kids) != sorted(str(i) for i in range(len(kids))) or not kids:
        _fail(f"{what} has children {sorted(kids)}, expected 0..n-1")
    return [kids[str(i)] for i in range(len(kids))]


def _tensor(rec: Record, name: str, what: str) -> torch.Tensor:
    for group in ("_parameters", "_buffers"):
        t = (rec.state.get(group) or {}).get(name)
        if isinstance(t, torch.Tensor):
            return t
    _fail(f"{what} has no tensor {name!r}")


def _conv_weight(rec: Record, what: str) -> torch.Tensor:
    """The weight of an official `Convolution` (a wrapper of one bias-free nn.Conv2d named Layer)."""
    return _tensor(rec.child("Layer"), "weight", f"{what}.Layer")


@dataclass
class _Stage:
    width: int
    cardinality: int
    blocks: int
    hidden: int
    dtype: Any


def _block_shape(block: Record, what: str) -> tuple[int, int, int]:
    """(width, expanded width, cardinality) of an official ResidualBlock, from its tensor shapes."""
    if block.class_name != _NET + "ResidualBlock":
        _fail(f"{what} is {block.class_name}, expected a ResidualBlock")
    w1, w2 = _conv_weight(block.child("LinearLayer1"), what), _conv_weight(block.child("LinearLayer2"), what)
    width, hidden = w1.shape[1], w1.shape[0]
    if w2.shape[-1] != 3:
        _fail(f"{what} uses {w2.shape[-1]}x{w2.shape[-1]} grouped convolutions; ganforge's blocks use 3x3 "
              "(KernelSize=3, the official default)")
    if w2.shape[1] == 0 or hidden % w2.shape[1]:
        _fail(f"{what}.LinearLayer2 weight of shape {tuple(w2.shape)} is not a grouped convolution of {hidden}")
    return width, hidden, hidden // w2.shape[1]


def _stage(stage: Record, blocks: list[Record], width: int, what: str) -> _Stage:
    if not blocks:
        _fail(f"{what} has no residual blocks; ganforge needs at least one per stage")
    shapes = {_block_shape(b, f"{what} block {i}") for i, b in enumerate(blocks)}
    if len(shapes) != 1 or next(iter(shapes))[0] != width:
        _fail(f"{what}: residual blocks of shapes {sorted(shapes)} do not fit stage width {width}")
    _, hidden, card = shapes.pop()
    return _Stage(width, card, len(blocks), hidden, stage.state.get("DataType", torch.float32))


def _check_kernel(resampler: Record, what: str) -> None:
    kernel = _tensor(resampler, "Kernel", what)
    if kernel.shape != _TENT.shape or not torch.allclose(kernel.float(), _TENT, atol=1e-6):
        _fail(f"{what} resamples with a {tuple(kernel.shape)} filter other than ResamplingFilter=[1,2,1]; "
              "ganforge implements only that (bilinear) filter")


def _generator_stages(model: Record) -> tuple[list[_Stage], dict[str, str]]:
    """Stage shapes of the official generator and the name of every official tensor in ganforge's Generator."""
    names: dict[str, str] = {}
    stages: list[_Stage] = []
    for i, st in enumerate(_indexed(model.child("MainLayers"), "G.Model.MainLayers")):
        what, pre = f"G stage {i}", f"Model.MainLayers.{i}.Layers."
        layers = _indexed(st.child("Layers"), f"{what} layers")
        first = layers[0]
        if i == 0:
            if first.class_name != _NET + "GenerativeBasis":
                _fail(f"{what} starts with {first.class_name}, expected GenerativeBasis")
            width = _tensor(first, "Basis", what).shape[0]
            names.update({pre + "0.Basis": "stages.0.transition.basis",
                          pre + "0.LinearLayer.weight": "stages.0.transition.linear.weight"})
        else:
            if first.class_name != _NET + "UpsampleLayer":
                _fail(f"{what} starts with {first.class_name}, expected UpsampleLayer")
            _check_kernel(first.child("Resampler"), f"{what} upsampler")
            names[pre + "0.Resampler.Kernel"] = ""
            width = stages[-1].width
            if "LinearLayer" in first.children():
                width = _conv_weight(first.child("LinearLayer"), what).shape[0]
                names[pre + "0.LinearLayer.Layer.weight"] = f"stages.{i}.transition.proj.weight"
        stages.append(_stage(st, layers[1:], width, what))
        for j in range(1, len(layers)):
            names.update(_block_names(f"{pre}{j}.", f"stages.{i}.blocks.{j - 1}."))
    names["Model.AggregationLayer.Layer.weight"] = "to_rgb.weight"
    return stages, names


def _discriminator_stages(model: Record) -> tuple[list[_Stage], dict[str, str]]:
    """Stage shapes of the official discriminator (high -> low resolution) and its tensor names in ganforge's D."""
    names = {"Model.ExtractionLayer.Layer.weight": "from_rgb.weight"}
    width = _conv_weight(model.child("ExtractionLayer"), "D.Model.ExtractionLayer").shape[0]
    records = _indexed(model.child("MainLayers"), "D.Model.MainLayers")
    stages: list[_Stage] = []
    for i, st in enumerate(records):
        what, pre = f"D stage {i}", f"Model.MainLayers.{i}.Layers."
        layers = _indexed(st.child("Layers"), f"{what} layers")
        stages.append(_stage(st, layers[:-1], width, what))
        for j in range(len(layers) - 1):
            names.update(_block_names(f"{pre}{j}.", f"stages.{i}.blocks.{j}."))
        last, t = layers[-1], f"{pre}{len(layers) - 1}."
        if i == len(records) - 1:
            if last.class_name != _NET + "DiscriminativeBasis":
                _fail(f"{what} ends with {last.class_name}, expected DiscriminativeBasis")
            names.update({t + "Basis.weight": f"stages.{i}.transition.depthwise.weight",
                          t + "LinearLayer.weight": f"stages.{i}.transition.linear.weight"})
            continue
        if last.class_name != _NET + "DownsampleLayer":
            _fail(f"{what} ends with {last.class_name}, expected DownsampleLayer")
        _check_kernel(last.child("Resampler"), f"{what} downsampler")
        names[t + "Resampler.Kernel"] = ""
        if "LinearLayer" in last.children():
            width = _conv_weight(last.child("LinearLayer"), what).shape[0]
            names[t + "LinearLayer.Layer.weight"] = f"stages.{i}.transition.proj.weight"
    return stages, names


def _block_names(official: str, ours: str) -> dict[str, str]:
    out = {f"{official}LinearLayer{k}.Layer.weight": f"{ours}conv{k}.weight" for k in (1, 2, 3)}
    out.update({f"{official}NonLinearity{k}.Bias": f"{ours}act{k}.bias" for k in (1, 2)})
    return out


def _low_precision_stages(dtypes: list[Any], high_res_last: bool) -> int:
    """How many stages the official model ran in bf16/fp16, as ganforge counts them (from the high-res end)."""
    low = [d in _LOW_PRECISION for d in (dtypes if high_res_last else list(reversed(dtypes)))]
    n = sum(low)
    return n if low[len(low) - n:] == [True] * n else 0


def infer_config(G: Record, D: Record) -> tuple[NetworkConfig, dict[str, dict[str, str]], dict[str, Any]]:
    """ganforge's NetworkConfig for an official R3GAN G/D pair, the tensor name maps {"G": ..., "D": ...} and notes."""
    g_model, d_model = _model(G, OFFICIAL_G, "G_ema"), _model(D, OFFICIAL_D, "D")
    g_stages, g_names = _generator_stages(g_model)
    d_stages, d_names = _discriminator_stages(d_model)
    d_low_first = list(reversed(d_stages))  # official D lists stages high -> low res; ganforge's config low -> high
    for key in ("width", "cardinality", "blocks"):
        g, d = [getattr(s, key) for s in g_stages], [getattr(s, key) for s in d_low_first]
        if g != d:
            _fail(f"G {key}s {g} and D {key}s {d} (low -> high resolution) differ; ganforge's G and D share one "
                  "shape config, so this pair cannot be imported")
    ratios = {s.hidden / s.width for s in g_stages + d_stages}
    if len(ratios) != 1 or not next(iter(ratios)).is_integer():
        _fail(f"expansion factors {sorted(ratios)} are not one integer for all stages of G and D")
    z_dim, c_dim, res = (G.state.get(k) for k in ("z_dim", "c_dim", "img_resolution"))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (z_dim, c_dim, res)):
        _fail(f"G_ema lacks integer z_dim/c_dim/img_resolution (got {z_dim!r}, {c_dim!r}, {res!r})")
    g_embed = d_embed = None
    if c_dim:
        g_embed = _tensor(g_model.child("EmbeddingLayer"), "weight", "G.Model.EmbeddingLayer").shape[0]
        d_embed = _tensor(d_model.child("EmbeddingLayer"), "weight", "D.Model.EmbeddingLayer").shape[0]
        g_names["Model.EmbeddingLayer.weight"] = d_names["Model.EmbeddingLayer.weight"] = "embed.weight"
    channels = _conv_weight(g_model.child("AggregationLayer"), "G.Model.AggregationLayer").shape[0]
    g_low = _low_precision_stages([s.dtype for s in g_stages], high_res_last=True)
    d_low = _low_precision_stages([s.dtype for s in d_stages], high_res_last=False)
    try:
        net = NetworkConfig(widths=[s.width for s in g_stages], blocks=[s.blocks for s in g_stages],
                            cardinalities=[s.cardinality for s in g_stages], expansion=int(ratios.pop()),
                            z_dim=z_dim, img_channels=channels, num_classes=c_dim, g_embed_dim=g_embed or 64,
                            d_embed_dim=d_embed, low_precision_stages=max(g_low, d_low), resample_border="zero")
    except ValueError as e:
        _fail(f"the inferred shape config is invalid ({e})")
    if net.resolution != res:
        _fail(f"{len(g_stages)} generator stages make {net.resolution}x{net.resolution} images but the snapshot "
              f"says img_resolution={res}")
    info = {"g_stage_dtypes": [str(s.dtype).removeprefix("torch.") for s in g_stages],
            "d_stage_dtypes": [str(s.dtype).removeprefix("torch.") for s in d_stages]}
    return net, {"G": g_names, "D": d_names}, info


def map_tensors(rec: Record, names: dict[str, str], what: str) -> dict[str, torch.Tensor]:
    """The official module's tensors under ganforge's names; every official tensor must be known (filters dropped)."""
    official = state_dict(rec)
    unknown = sorted(set(official) - set(names))
    absent = sorted(set(names) - set(official))
    if unknown or absent:
        _fail(f"{what}: unexpected tensors {unknown[:6]}, missing tensors {absent[:6]}; the file is not a snapshot of "
              "the R3GAN architecture ganforge imports")
    out = {}
    for key, ours in names.items():
        t = official[key]
        if not ours and (t.shape != _TENT.shape or not torch.allclose(t.float(), _TENT, atol=1e-6)):
            _fail(f"{what}: {key} is not the ResamplingFilter=[1,2,1] filter ganforge implements")
        if ours:
            out[ours] = t.detach().to(torch.float32, copy=True).contiguous() if t.is_floating_point() else t
    return out


def _load(module: torch.nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    own = module.state_dict()
    bad = [f"{k}: official {tuple(v.shape)} vs ganforge {tuple(own[k].shape)}" for k, v in tensors.items()
           if k in own and v.shape != own[k].shape]
    if bad:
        _fail(f"{what}: tensor shapes do not fit the inferred config ({'; '.join(bad[:4])})")
    load_module(module, tensors, f"R3GAN import of {what}")


def convert_r3gan(snapshot: dict[str, Any]) -> R3GANImport:
    """ganforge networks holding the official snapshot's G, G_ema and D weights (G = G_ema when G is absent)."""
    G_ema_rec, D_rec = snapshot.get("G_ema"), snapshot.get("D")
    G_rec = snapshot.get("G") if snapshot.get("G") is not None else G_ema_rec
    if not isinstance(G_ema_rec, Record) or not isinstance(D_rec, Record):
        _fail("the snapshot needs both G_ema and D")
    net, names, info = infer_config(G_ema_rec, D_rec)
    _model(G_rec, OFFICIAL_G, "G")
    nets: dict[str, torch.nn.Module] = {}
    for key, rec, cls, kind in (("G", G_rec, Generator, "G"), ("G_ema", G_ema_rec, Generator, "G"),
                                ("D", D_rec, Discriminator, "D")):
        module = cls(copy.deepcopy(net))
        _load(module, map_tensors(rec, names[kind], key), key)
        nets[key] = module.eval().requires_grad_(False)
    info["g_from_g_ema"] = snapshot.get("G") is None
    return R3GANImport(net, nets["G"], nets["G_ema"], nets["D"], info)  # type: ignore[arg-type]


__all__ = ["OFFICIAL_D", "OFFICIAL_G", "R3GANImport", "convert_r3gan", "infer_config", "map_tensors"]
