"""key=value overrides of nested dataclass configs, with type checks and 'did you mean' for unknown keys."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from typing import Any

from ganforge.errors import UserError


class ConfigError(UserError):
    """A config key or value that cannot be used; the message says the fix."""


def flat_keys(cfg: Any, prefix: str = "") -> list[str]:
    """All dotted keys of a nested dataclass."""
    keys = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            keys += flat_keys(value, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def coerce(value: Any, hint: Any, key: str) -> Any:
    """value converted to the type hint (bool, int, float, str, Literal choices, lists, optionals) or ConfigError."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise ConfigError(f"{key}: expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, dict):  # a list entry written as a JSON object, e.g. d_aux=[{"backbone": "vgg16"}]
            return _validated(_update(hint(), value))
        if isinstance(value, str) and hasattr(hint, "parse"):  # its shorthand, e.g. d_aux=vgg16
            try:
                return _validated(hint.parse(value))
            except ValueError as e:
                raise ConfigError(f"{key}: {e}") from None
        if not isinstance(value, hint):
            raise ConfigError(f"'{key}' is a group of keys, not a value; set {key}.KEY=VALUE instead")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin in (list, tuple):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, str):  # "fid,kid" or "[fid@vgg16,kid]": bare comma-separated items
            value = [_parse(v.strip()) for v in value.strip().removeprefix("[").removesuffix("]").split(",")
                     if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list like [64,64], got {value!r}")
        (inner, *_) = typing.get_args(hint) or (Any,)
        return [coerce(v, inner, key) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if hint is int:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or int(value) != value):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def set_key(cfg: Any, key: str, value: Any) -> None:
    """Set a dotted key on a nested dataclass, coercing to the field's declared type."""
    parts = key.split(".")
    obj = cfg
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(obj)}
        if part not in fields:
            valid = flat_keys(cfg)
            near = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(near)}? " if near else ""
            raise ConfigError(f"unknown config key '{key}'. {hint}Valid keys: {', '.join(valid)}")
        if i == len(parts) - 1:
            hints = typing.get_type_hints(type(obj))
            setattr(obj, part, coerce(value, hints[part], key))
        else:
            obj = getattr(obj, part)
            if not dataclasses.is_dataclass(obj):
                raise ConfigError(f"'{'.'.join(parts[:i + 1])}' is a value, not a group of keys")


def apply_overrides(cfg: Any, items: list[str]) -> Any:
    """Apply ['key=value', ...]; values are JSON (numbers, lists, true/false) or bare strings."""
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"'{item}' is not key=value")
        set_key(cfg, key.strip(), _parse(text.strip()))
    return _validated(cfg)


def update_from_dict(cfg: Any, data: dict) -> Any:
    """Apply a nested dict (e.g. a saved config.json) with the same checks as key=value overrides."""
    _update(cfg, data)
    return _validated(cfg)


def _update(cfg: Any, data: dict) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"expected a JSON object of config keys, got {type(data).__name__}")
    for k, v in data.items():
        sub = getattr(cfg, k, None)
        if isinstance(v, dict) and dataclasses.is_dataclass(sub):
            _update(sub, v)
        else:
            set_key(cfg, k, v)
    return cfg


def _validated(cfg: Any) -> Any:
    """Types, ranges and each part's own checks of the whole config, now that all values are in."""
    from ganforge.training.validate import validate_config

    return validate_config(cfg)
