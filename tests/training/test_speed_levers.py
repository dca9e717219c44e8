"""Speed levers (channels_last, compile) train like the default path; train_step.py's --config parser."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch
from helpers import load_script, tiny_dataset, tiny_train_config
from safetensors.torch import load_file

from ganforge.training import Trainer

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_step.py"
LOSSES = ("loss_D", "loss_G", "R1", "R2", "D_real", "D_fake")


def _two_steps(tmp_path: Path, name: str, **kw) -> tuple[Trainer, list[dict]]:
    cfg = tiny_train_config(str(tmp_path / name), **kw)
    cfg.loss.r_every = 2  # step 0 carries R1/R2 (eager D), step 1 does not (compiled D when compile=true)
    torch.manual_seed(0)
    t = Trainer(cfg, dataset=tiny_dataset(32))
    return t, [t.train_step() for _ in range(2)]


def _assert_close_terms(a: list[dict], b: list[dict], rtol: float, atol: float) -> None:
    for step_a, step_b in zip(a, b, strict=True):
        keys = [k for k in LOSSES if k in step_a]
        assert keys == [k for k in LOSSES if k in step_b] and "loss_D" in keys
        for k in keys:
            assert step_a[k] == pytest.approx(step_b[k], rel=rtol, abs=atol), k


def test_channels_last_trains_like_contiguous(tmp_path):
    base, base_terms = _two_steps(tmp_path, "nchw")
    cl, cl_terms = _two_steps(tmp_path, "nhwc", channels_last=True)
    conv = cl.G.stages[1].blocks[0].conv2.weight  # a grouped 3x3: NHWC and NCHW strides differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert base.G.stages[1].blocks[0].conv2.weight.is_contiguous()
    assert cl_terms[0]["regularised"] == 1.0 and cl_terms[1]["regularised"] == 0.0
    _assert_close_terms(cl_terms, base_terms, rtol=1e-4, atol=1e-6)
    # Adam divides by sqrt(v), so a weight whose gradient is near zero can move by a different fraction of one lr
    # step when NHWC kernels round differently (AVX-512 machines): allow 1/200 of the first step's lr (2e-3)
    for a, b in zip(cl.G.parameters(), base.G.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    path = cl.save_checkpoint()  # NHWC weights are written as plain contiguous tensors
    assert set(load_file(path / "G.safetensors")) == set(base.G.state_dict())


@functools.cache
def _compile_unavailable() -> str | None:
    """Why torch.compile cannot run here (no inductor, no C++ compiler, ...), or None when a trivial compile works."""
    try:
        import torch._inductor

        fn = torch.compile(lambda x: x * 2 + 1, dynamic=False)
        torch.testing.assert_close(fn(torch.ones(3)), torch.full((3,), 3.0))
    except Exception as e:
        return f"torch.compile is unavailable on this platform ({e.__class__.__name__}: {str(e)[:200]})"
    return None


def test_compile_trains_and_checkpoints_plain_modules(tmp_path):
    if (reason := _compile_unavailable()) is not None:
        pytest.skip(reason)
    eager, eager_terms = _two_steps(tmp_path, "eager")
    comp, comp_terms = _two_steps(tmp_path, "compiled", compile=True)
    assert comp.G_fast is not comp.G and comp.D_fast is not comp.D  # the wrappers are in use ...
    assert eager.G_fast is eager.G and eager.D_fast is eager.D  # ... and only when asked for
    assert {id(p) for p in comp.G_fast.parameters()} == {id(p) for p in comp.G.parameters()}
    _assert_close_terms(comp_terms, eager_terms, rtol=1e-3, atol=1e-5)  # fused kernels round differently
    path = comp.save_checkpoint()
    ref = eager.save_checkpoint()
    for name in ("G", "G_ema", "D"):
        keys = set(load_file(path / f"{name}.safetensors"))
        assert keys == set(load_file(ref / f"{name}.safetensors")) and not any("_orig_mod" in k for k in keys)
    assert not any("_orig_mod" in k for k in comp.G_ema.state_dict())


@pytest.fixture(scope="module")
def bench():
    module = load_script(SCRIPT)
    yield module
    del sys.modules[module.__name__]


def test_config_parser(bench):
    cl = bench.parse_config("cl=preset=tiny channels_last=true threads=1")
    assert (cl.name, cl.preset, cl.overrides, cl.threads) == ("cl", "tiny", ["channels_last=true"], 1)
    old = bench.parse_config("old-r3gan=preset=tiny net.widths=[64,64,64,64] 'net.mbstd_group=0' loss.r_every=1")
    assert old.overrides == ["net.widths=[64,64,64,64]", "net.mbstd_group=0", "loss.r_every=1"]
    assert old.threads == 0 and bench.parse_config("base=data=mnist5k").preset == "tiny"
    assert [c.name for c in bench.parse_configs(["a=preset=tiny", "b=preset=small compile=true"])] == ["a", "b"]
    for item, match in (("cl=preset=tiny chanels_last=true", "channels_last"),  # 'did you mean'
                        ("cl=preset=tinyy", "unknown preset"), ("cl=preset=tiny threads=0", "threads"),
                        ("c l=preset=tiny", "NAME"), ("cl", "NAME"), ("cl=preset=tiny compile", "key=value"),
                        ("cl=loss.r_every=0", "r_every"), ("cl=channels_last=true compile=true", "choose one")):
        with pytest.raises(ValueError, match=match):
            bench.parse_config(item)
    with pytest.raises(ValueError, match="given twice"):
        bench.parse_configs(["a=preset=tiny", "a=preset=small"])
    with pytest.raises(SystemExit):  # main rejects a bad --config before timing anything
        bench.main(["--config", "a=preset=tiny nope=1"])


def test_compiled_stylegan_generator_applies_style_mixing():
    """compile=true with loss.style_mixing > 0: the compiled G pass mixes exactly as the eager one (same cutoff,
    same second latent, same image), and a new cutoff compiles nothing new (mapping and its hook stay eager)."""
    if (reason := _compile_unavailable()) is not None:
        pytest.skip(reason)
    from torch._dynamo.utils import counters

    from ganforge.networks import NetworkConfig, build_generator
    from ganforge.training.speed import compiled
    from ganforge.training.stylegan_recipe import StyleMixing

    net = NetworkConfig(arch="stylegan2", z_dim=8, img_channels=1,
                        arch_kwargs={"img_resolution": 8, "w_dim": 8, "mapping_layers": 1, "channel_base": 32,
                                     "channel_max": 4})
    torch.manual_seed(0)
    G = build_generator(net).eval()  # eval: the stored constant noise, so eager and compiled see the same noise
    fast, mixing, z = compiled(G, True), StyleMixing(prob=1.0), torch.randn(2, 8)
    eager_synthesis, cutoffs, graphs = G.synthesis, [], []
    with torch.no_grad():
        plain = G(z)
        for seed in (1, 2, 3, 4):
            torch.manual_seed(seed)
            with mixing(G):
                eager = G(z)
            cutoffs.append(mixing._draw[1])
            torch.manual_seed(seed)
            with mixing(G):
                out = fast(z)
            assert mixing._draw[1] == cutoffs[-1]
            torch.testing.assert_close(out, eager, rtol=1e-4, atol=1e-5)
            assert float((out - plain).abs().max()) > 1e-3  # the mixing took effect in the compiled pass
            graphs.append(counters["stats"]["unique_graphs"])
    assert len(set(cutoffs)) > 1 and graphs[-1] == graphs[0]  # other cutoffs: no recompilation
    assert G.synthesis is eager_synthesis and not any(k.startswith("_orig_mod") for k in G.state_dict())
