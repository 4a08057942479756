"""What a schema field accepts beyond its type: ranges and choices, declared next to the type.

    lr: float = positive()
    p_uncond: float = in_range(0, 1)
    precision: str = choice("fp32", "bf16", "fp16")
    channel_mults: List[int] = each(positive())

Each helper returns a dataclass field with no default (the YAML files hold the defaults) whose metadata
carries a `Check`; `schemas.check.check_config` applies the checks to a composed config. OmegaConf
itself enforces the types (int, float, bool, str, Optional, List) while Hydra composes.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable

from omegaconf import MISSING


@dataclasses.dataclass(frozen=True)
class Check:
    """accepts(value) -> bool; `what` completes "expected ..." given the type's noun ("an integer")."""

    accepts: Callable[[Any], bool]
    what: Callable[[str], str]
    whole: bool = False  # `what` describes the whole value, type included (satisfies)


def _field(check: Check | None) -> Any:
    return dataclasses.field(default=MISSING, metadata={"check": check} if check else {})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounds(ge=None, gt=None, le=None, lt=None) -> Check:
    def accepts(v):
        return _number(v) and (ge is None or v >= ge) and (gt is None or v > gt) and (le is None or v <= le) and (lt is None or v < lt)

    def what(noun):
        if gt == 0 and (ge, le, lt) == (None, None, None):
            return noun.replace("an integer", "a positive integer").replace("a number", "a positive number")
        if ge is not None and (le is not None or lt is not None):
            return f"{noun} in [{ge:g}, {le if le is not None else lt:g}{']' if le is not None else ')'}"
        parts = [f">= {ge:g}" if ge is not None else "", f"> {gt:g}" if gt is not None else "",
                 f"<= {le:g}" if le is not None else "", f"< {lt:g}" if lt is not None else ""]
        return f"{noun} {' and '.join(p for p in parts if p)}"

    return Check(accepts, what)


def positive() -> Any:
    """> 0."""
    return _field(_bounds(gt=0))


def at_least(low: float) -> Any:
    """>= low (e.g. at_least(0) for counts where 0 means never)."""
    return _field(_bounds(ge=low))


def in_range(low: float, high: float, *, high_open: bool = False) -> Any:
    """[low, high], or [low, high) with high_open."""
    return _field(_bounds(ge=low, lt=high) if high_open else _bounds(ge=low, le=high))


def unbounded() -> Any:
    """A number that may take any value: says so explicitly, so that no numeric key is left unchecked by oversight."""
    return _field(Check(lambda v: True, lambda noun: noun))


def choice(*choices) -> Any:
    """One of the given values (strings, or numbers such as channel counts)."""
    return _field(Check(lambda v: v in choices, lambda noun: f"one of {', '.join(map(str, choices))}"))


def each(item: Any) -> Any:
    """A list whose every element passes `item` (another helper's field)."""
    inner: Check = item.metadata["check"]
    return _field(Check(lambda v: all(inner.accepts(x) for x in v), lambda noun: inner.what(noun)))


def satisfies(accepts: Callable[[Any], bool], what: str) -> Any:
    """Any other rule on the value alone; `what` describes the valid values in full."""
    return _field(Check(accepts, lambda noun: what, whole=True))


def check_of(schema: type, name: str) -> Check | None:
    """The Check declared on field `name` of dataclass `schema`, if any."""
    for f in dataclasses.fields(schema):
        if f.name == name:
            return f.metadata.get("check")
    return None


def field_type(schema: type, name: str):
    """The annotated type of field `name` of dataclass `schema` (None when there is no such field)."""
    return typing.get_type_hints(schema).get(name)


def describe(annotation, check: Check | None = None) -> str:
    """What a value of this type (and check) looks like, for "expected ...": "an integer >= 0",
    "a list of positive integers", "one of fp32, bf16, fp16", "a number or null"."""
    args = typing.get_args(annotation)
    if check is not None and check.whole:
        return check.what("")
    if typing.get_origin(annotation) is typing.Union and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return f"{describe(inner, check)} or null"
    if typing.get_origin(annotation) in (list, typing.List):
        noun = _plural(describe(args[0] if args else Any, check))
        return f"a list of {noun}"
    noun = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(annotation, "a value")
    if dataclasses.is_dataclass(annotation):
        noun = "a group of keys: " + ", ".join(f.name for f in dataclasses.fields(annotation))
    return check.what(noun) if check else noun


def _plural(noun: str) -> str:
    for singular, plural in (("an integer", "integers"), ("a number", "numbers"), ("a string", "strings"),
                             ("a positive integer", "positive integers"), ("a positive number", "positive numbers"),
                             ("a list of", "lists of"), ("a value", "values")):
        if noun.startswith(singular):
            return plural + noun[len(singular):]
    return noun
