"""Checking a composed config against its schemas, and turning every failure into one line:

    error: <dotted.key>=<bad value>: expected <what>

OmegaConf enforces the types while Hydra composes (its exceptions are translated by `explain`);
`check_config` then walks the composed config for what types cannot say: ranges and choices
(schemas/fields.py), required keys left at ???, and keys added with `+` that no schema has.
"""
from __future__ import annotations

import dataclasses
import difflib
import re

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError, OmegaConfBaseException

from schemas.fields import check_of, describe, field_type


class ConfigError(ValueError):
    """A bad config value; the message is one line naming the key and the valid choices."""


def show(value) -> str:
    """A value as it is typed on the command line: abc, 1.5, null, true, [1, 2]."""
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value)
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def _join(prefix: str, key) -> str:
    return f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}" if prefix else str(key)


def unknown_key(full_key: str, valid) -> ConfigError:
    """`model.base_chanels`: no such key, with the likely meant one (or all of them)."""
    prefix, _, key = full_key.rpartition(".")
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    if close:
        return ConfigError(f"{full_key}: no such key; did you mean {_join(prefix, close[0])}?")
    if not valid:
        return ConfigError(f"{full_key}: no such key; {prefix or 'this config'} takes no keys")
    return ConfigError(f"{full_key}: no such key" + (f"; valid keys here: {', '.join(valid)}" if len(valid) <= 12 else ""))


def spec(cfg: DictConfig, full_key: str):
    """(annotated type, Check or None) of a dotted key in a composed config, or None where no schema types it."""
    parent_key, _, key = full_key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    schema = OmegaConf.get_type(parent) if isinstance(parent, DictConfig) else None
    if not dataclasses.is_dataclass(schema) or key not in _names(schema):
        return None
    return field_type(schema, key), check_of(schema, key)


def check_config(cfg: DictConfig, prefix: str = "") -> None:
    """Walk a composed config; raise ConfigError for the first key its schema rejects."""
    schema = OmegaConf.get_type(cfg)
    schema = schema if dataclasses.is_dataclass(schema) else None
    names = [f.name for f in dataclasses.fields(schema)] if schema else []
    for key in cfg.keys():
        full_key = _join(prefix, key)
        if schema and key not in names:
            raise unknown_key(full_key, names)
        if OmegaConf.is_missing(cfg, key):
            what = describe(field_type(schema, key), check_of(schema, key)) if schema else "a value"
            raise ConfigError(f"{full_key}=???: expected {what} (required: set {full_key}=...)")
        try:
            value = cfg[key]
        except InterpolationResolutionError as error:
            raise ConfigError(f"{full_key}: {_first_line(error)}") from None
        except OmegaConfBaseException as error:  # an interpolation that resolves to a value of the wrong type
            raise explain(error) from None
        if isinstance(value, DictConfig):
            check_config(value, full_key)
            continue
        check = check_of(schema, key) if schema else None
        plain = OmegaConf.to_container(value, resolve=True) if isinstance(value, ListConfig) else value
        if check and plain is not None and not check.accepts(plain):
            raise ConfigError(f"{full_key}={show(plain)}: expected {describe(field_type(schema, key), check)}")


def explain(error: BaseException) -> ConfigError:
    """One line for an error OmegaConf raised while Hydra composed (found in the exception's causes)."""
    cause = error
    while cause is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return ConfigError(_first_line(error))
    full_key = getattr(cause, "full_key", None) or str(getattr(cause, "key", "") or "")
    schema, key = getattr(cause, "object_type", None), getattr(cause, "key", None)
    if isinstance(cause, (ConfigKeyError, AttributeError)) and dataclasses.is_dataclass(schema) and key not in _names(schema):
        return unknown_key(full_key, _names(schema))
    if dataclasses.is_dataclass(schema) and key in _names(schema):
        what = describe(field_type(schema, key), check_of(schema, key))
    elif isinstance(getattr(cause, "parent_node", None), ListConfig):  # one element of a typed list
        what = describe(cause.parent_node._metadata.element_type)
    else:
        return ConfigError(f"{full_key}: {_first_line(cause)}" if full_key else _first_line(cause))
    return ConfigError(f"{full_key}={show(getattr(cause, 'value', None))}: expected {what}")


def _names(schema: type) -> list[str]:
    return [f.name for f in dataclasses.fields(schema)]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return re.sub(r"\s+", " ", text.splitlines()[0]) if text else type(error).__name__
