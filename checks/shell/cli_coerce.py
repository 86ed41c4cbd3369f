"""Option and argument values turned into their Python types in plain Python: the fast path of typer's coercion.

typer (0.29) coerces every value through a pydantic ``TypeAdapter`` it builds for each parameter on first use:
pydantic's validators imported and an adapter built for every option a command reads, a tenth of what
``readiness validate`` spent. The values our commands take (``str``, ``int``, ``float``, ``bool``, an ``Enum``,
``Path``, ``list[str]``) need none of it. Anything this module does not answer with certainty (a value that
would not convert, a bound such as ``min``/``max``, a custom parser, a choice matched case-insensitively or
normalised) goes to typer's own coercion, so a bad value is refused with typer's own message.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._coercion import TypeDescriptor, build_runtime_param
from typer._param_types import choice_as_str, coerce_cli_path

__all__ = ["LightParam"]

_MISS: Any = object()
"""Not answered here: typer's coercion decides."""
_INT = re.compile(r"-?[0-9]{1,15}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")
"""Numbers short enough that int() and float() give what pydantic gives (no digit limit, no rounding to inf)."""


class LightParam:
    """typer's runtime-parameter contract (``coerce(value, param, ctx)``): plain Python first, typer's after."""

    def __init__(self, descriptor: TypeDescriptor) -> None:
        self.descriptor = descriptor
        self._full: Any = None

    def full(self) -> Any:
        """typer's own coercion for this parameter (the pydantic adapter), built the first time it is needed."""
        if self._full is None:
            self._full = build_runtime_param(self.descriptor)
        return self._full

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multiple = param.multiple or param.nargs == -1
        if value is None:
            return () if multiple else None  # as typer: nothing given, nothing to convert
        opens_files = self.descriptor.file_annotation is not None
        if not opens_files and not (multiple and isinstance(value, str)):  # typer refuses a str, with its message
            got = _value(self.descriptor.annotation, self.descriptor.parameter_info, value, param, ctx)
            if got is not _MISS:
                return got
        return self.full().coerce(value, param, ctx)


def _value(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    if info.parser is not None:
        return _MISS
    origin = get_origin(annotation)
    if origin is list:
        (item,) = get_args(annotation)
        items = value if isinstance(value, list | tuple) else [value]
        out = [_leaf(item, info, v, param, ctx) for v in items]
        return _MISS if any(v is _MISS for v in out) else out
    if origin is not None:
        return _MISS
    return _leaf(annotation, info, value, param, ctx)


def _leaf(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    if annotation is str:
        return value if isinstance(value, str) else _MISS
    if annotation is bool:
        return value if isinstance(value, bool) else _MISS
    if annotation is int or annotation is float:
        if info.min is not None or info.max is not None or info.clamp:
            return _MISS
        if annotation is int:
            if type(value) is int:
                return value
            return int(value) if isinstance(value, str) and _INT.fullmatch(value) else _MISS
        if type(value) is int or type(value) is float:
            return float(value)
        return float(value) if isinstance(value, str) and _FLOAT.fullmatch(value) else _MISS
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(value, annotation):
            return value
        if isinstance(value, str) and info.case_sensitive and getattr(ctx, "token_normalize_func", None) is None:
            for member in annotation:
                if choice_as_str(member) == value:
                    return member
        return _MISS
    if annotation is Path and info.path_type is None:
        if isinstance(value, str) and value:
            value = Path(value)
        if isinstance(value, Path):  # typer's checks (exists, readable, ...) as typer runs them
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
    return _MISS
