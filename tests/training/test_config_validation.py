"""Every config value is checked by type (from the hints, Literal choices included) and range, when the config
is built, after key=value overrides and when a Trainer starts; bad CLI input is one line and exit 2."""

import dataclasses
import errno
import json

import pytest
import torch
from helpers import tiny_dataset, tiny_net, tiny_train_config
from safetensors.torch import save_file

from ganforge import load_generator
from ganforge.cli.main import main, os_error_message
from ganforge.networks import Generator
from ganforge.training import TrainConfig, Trainer, get_preset
from ganforge.training.checkpoint import GENERATOR_FORMAT, CheckpointError, module_tensors
from ganforge.training.overrides import ConfigError, apply_overrides, flat_keys


@pytest.mark.parametrize("item,key", [("batch_size=0", "batch_size"), ("kimg=NaN", "kimg"),
                                      ("grid_size=0", "grid_size"), ("precision=bf17", "precision"),
                                      ("loss.r_every=0", "r_every"),
                                      ("loss.name=wgan", "loss.name"), ("device=gpu", "device"),
                                      ("schedule.beta2_end=1", "schedule.beta2_end"), ("net.z_dim=0", "net.z_dim"),
                                      ("data_resolution=48", "data_resolution"), ("net=3", "net")])
def test_bad_values_name_the_key(item, key):
    with pytest.raises(ConfigError, match=key):
        apply_overrides(get_preset("tiny"), [item])


def test_every_key_is_type_checked_including_fields_added_later():
    """Driven by the type hints: any field, present or future, rejects a value of the wrong kind."""
    for key in flat_keys(get_preset("tiny")):
        with pytest.raises(ConfigError, match=key.split(".")[-1]):
            apply_overrides(get_preset("tiny"), [f'{key}={{"not": "a value"}}'])


def test_numbers_must_be_finite_everywhere():
    cfg = get_preset("tiny")
    numeric = [k for k in flat_keys(cfg) if isinstance(eval_key(cfg, k), float)]
    assert len(numeric) > 10
    for key in numeric:
        with pytest.raises(ConfigError, match="finite"):
            apply_overrides(get_preset("tiny"), [f"{key}=Infinity"])


def eval_key(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def test_checked_when_built_and_when_a_trainer_starts(tmp_path):
    with pytest.raises(ConfigError, match="grid_size"):
        TrainConfig(grid_size=0)
    assert TrainConfig(batch_size=8.0).batch_size == 8 and isinstance(TrainConfig(batch_size=8.0).batch_size, int)
    cfg = tiny_train_config(str(tmp_path / "r"))
    cfg.loss.r_every = 0  # set on the object after it was built
    with pytest.raises(ConfigError, match="r_every"):
        Trainer(cfg, dataset=tiny_dataset(16))
    assert not (tmp_path / "r").exists()  # nothing written for a config that cannot run


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    cases = [["train", "--dry-run", "batch_size=0"], ["train", "--dry-run", "kimg=NaN"],
             ["generate", str(tmp_path), "--seeds", "5-1"], ["generate", str(tmp_path), "--seeds", "0-999999999"],
             ["generate", str(tmp_path), "--grid", "out.xyz"], ["generate", str(tmp_path / "missing")]]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"ganforge {argv[0]}: error:") and len(err.splitlines()) == 1, err
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "x", "--data", "digits", "--num", "0"])
    assert e.value.code == 2 and "must be an integer >= 1" in capsys.readouterr().err


def test_os_errors_become_one_line_naming_the_file():
    msg = os_error_message(OSError(errno.ENOSPC, "No space left on device", "runs/r/ckpt"))
    assert msg.startswith("runs/r/ckpt: No space left on device;") and "free disk space" in msg


def write_generator(path, net: dict, G: Generator) -> None:
    save_file(module_tensors(G), str(path), metadata={"format": GENERATOR_FORMAT, "net": json.dumps(net)})


def test_generator_metadata_is_checked_before_allocating(tmp_path):
    G = Generator(tiny_net())
    net = dataclasses.asdict(tiny_net())
    huge = {**net, "widths": [16000] * 4, "cardinalities": [16] * 4}  # ~6G parameters if it were built
    write_generator(tmp_path / "huge.safetensors", huge, G)
    with pytest.raises(CheckpointError, match=r"G-parameter network.*GANFORGE_MAX_PARAMS"):
        load_generator(tmp_path / "huge.safetensors")
    other = {**net, "widths": [32] * 4}
    write_generator(tmp_path / "other.safetensors", other, G)
    with pytest.raises(CheckpointError, match="do not match the stored network settings"):
        load_generator(tmp_path / "other.safetensors")
    write_generator(tmp_path / "ok.safetensors", net, G)
    z = torch.randn(2, G.z_dim)
    assert torch.equal(load_generator(tmp_path / "ok.safetensors")(z), G.eval()(z))


def test_init_from_takes_the_architecture_from_the_checkpoint(tmp_path, capsys):
    run = tmp_path / "src"
    Trainer(tiny_train_config(str(run), kimg=0.008), dataset=tiny_dataset(16)).train()
    assert get_preset("tiny").net.widths != [16] * 4  # the preset alone would build other networks
    assert main(["train", "--dry-run", "--init-from", str(run), "--out", str(tmp_path / "ft")]) == 0
    net = json.loads(capsys.readouterr().out)["net"]
    assert net == json.loads((run / "config.json").read_text())["net"]
