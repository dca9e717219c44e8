import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganforge.training import get_preset
from ganforge.training.config import to_dict
from ganforge.training.overrides import ConfigError, apply_overrides, flat_keys, update_from_dict


def test_overrides_typed_and_nested():
    cfg = apply_overrides(get_preset("tiny"), ["kimg=3", "schedule.lr_end=5e-5", "net.widths=[32,32,32,32]",
                                               "loss.r2=false", "data=mnist5k", "metrics=[\"fid\"]"])
    assert cfg.kimg == 3.0 and cfg.schedule.lr_end == 5e-5 and cfg.net.widths == [32] * 4
    assert cfg.loss.r2 is False and cfg.data == "mnist5k" and cfg.metrics == ["fid"]


def test_lists_accept_bare_comma_separated_items():
    cfg = apply_overrides(get_preset("tiny"), ["metrics=fid@classifier-mnist,kid", "net.widths=32,32,16,16"])
    assert cfg.metrics == ["fid@classifier-mnist", "kid"] and cfg.net.widths == [32, 32, 16, 16]
    cfg = apply_overrides(cfg, ["metrics=[fid,modes]", "metrics_num=50"])
    assert cfg.metrics == ["fid", "modes"]
    with pytest.raises(ConfigError, match="integer"):
        apply_overrides(cfg, ["net.widths=32,wide"])


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match=r"did you mean schedule\.lr_end"):
        apply_overrides(get_preset("tiny"), ["schedule.lr_ned=1"])
    with pytest.raises(ConfigError, match="Valid keys"):
        apply_overrides(get_preset("tiny"), ["zzzz=1"])


@pytest.mark.parametrize("item", ["kimg=abc", "batch_size=2.5", "loss.r1=maybe", "net.widths=hello", "novalue"])
def test_bad_values_rejected(item):
    with pytest.raises(ConfigError):
        apply_overrides(get_preset("tiny"), [item])


def test_round_trip_through_json():
    cfg = apply_overrides(get_preset("small"), ["schedule.gamma_end=0.3", "xflip=true"])
    again = update_from_dict(get_preset("tiny"), json.loads(json.dumps(to_dict(cfg))))
    assert to_dict(again) == to_dict(cfg)


@settings(max_examples=60, deadline=None)
@given(key=st.text(min_size=1, max_size=20).filter(lambda s: "=" not in s), value=st.text(max_size=10))
def test_parser_never_crashes_unexpectedly(key, value):
    """Any key=value either applies to a valid key or raises ConfigError; nothing else escapes."""
    cfg = get_preset("tiny")
    try:
        apply_overrides(cfg, [f"{key}={value}"])
    except ConfigError:
        return
    assert key.strip() in flat_keys(cfg)


@settings(max_examples=40, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_float_keys_accept_numbers_in_range(x):
    if x <= 0:  # a learning rate must be > 0 (validate.RANGES)
        with pytest.raises(ConfigError, match=r"schedule\.lr_start.*must be > 0"):
            apply_overrides(get_preset("tiny"), [f"schedule.lr_start={x!r}"])
        return
    cfg = apply_overrides(get_preset("tiny"), [f"schedule.lr_start={x!r}"])
    assert cfg.schedule.lr_start == pytest.approx(x)
