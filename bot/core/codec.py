"""Lossless conversion of the domain dataclasses to JSON-ready dicts and back.

Decimals travel as strings (exact), enums as their values, nested dataclasses as dicts.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from decimal import Decimal
from typing import Any, TypeVar

T = TypeVar("T")


def encode(obj: Any) -> dict[str, Any]:
    """A dataclass instance as a JSON-ready dict."""
    return {name: _encode_value(getattr(obj, name)) for name in _names(type(obj))}


def decode(cls: type[T], data: dict[str, Any]) -> T:
    """The inverse of :func:`encode` for dataclass ``cls``; missing optional fields default."""
    hints = _hints(cls)
    kwargs = {name: _decode_value(hints[name], value) for name, value in data.items() if name in hints}
    return cls(**kwargs)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _encode_value(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return encode(value)
    if isinstance(value, dict):
        return {k: _encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v) for v in value]
    return value


def _decode_value(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode_value(inner[0], value) if len(inner) == 1 else value
    if origin is tuple:
        (item, *_) = typing.get_args(tp)
        return tuple(_decode_value(item, v) for v in value)
    if tp is Decimal:
        return Decimal(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return decode(tp, value)
    return value


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
