"""How big a manifest may be, checked before and after TOML parsing so bad input fails fast and by name.

``tomllib`` and pydantic are not built for hostile input: a 4,301-digit integer raises a bare
``ValueError``, 500 nested arrays a ``RecursionError``, a key of thousands of dotted parts costs
quadratic time and memory, and a megabyte string takes seconds. :func:`scan_text` runs on the raw text
(before ``tomllib``) and :func:`check_data` on the parsed document (before pydantic); each yields
``(field_path, message)`` problems for :class:`~checks.core.errors.ManifestError`.

The limits are generous for a real manifest (the STORY-ONB-05 one: 42 KB, strings up to 268 characters,
lists up to 40 entries, nesting 5 deep) and documented in the README's manifest section.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_INT",
    "MAX_KEYS",
    "MAX_KEY_CHARS",
    "MAX_STRING_CHARS",
    "check_data",
    "scan_text",
]

MAX_BYTES = 1024 * 1024
"""The manifest file: 1 MiB."""
MAX_DEPTH = 16
"""Tables and arrays inside each other (dotted keys count one level per part)."""
MAX_STRING_CHARS = 10_000
"""Any string value."""
MAX_KEY_CHARS = 200
"""Any key."""
MAX_ENTRIES = 1_000
"""Entries of any one array, keys of any one table."""
MAX_KEYS = 20_000
"""Keys (``key = value`` pairs and table headers) in the whole manifest."""
MAX_INT = 2**63 - 1
"""Integers fit in 64 bits; floats must be finite (no ``inf``, no ``nan``)."""

# The TOML tokens that matter for nesting, strings and comments skipped whole (their brackets, dots and
# quotes are text, not syntax). Single-character alternatives only: no nested quantifier can backtrack.
_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"{1,2}(?!"))*"{3,5}'  # multi-line basic string
    r"|'''[\s\S]*?'{3,5}"  # multi-line literal string
    r'|"(?:[^"\\\n]|\\.)*"'  # basic string
    r"|'[^'\n]*'"  # literal string
    r"|#[^\n]*"  # comment
    r"|[\[\]{}=,.\n]"
)


def scan_text(text: str) -> Iterator[tuple[str, str]]:
    """Problems visible in the raw text: nesting too deep, a key of too many dotted parts, too many
    entries in one array or inline table, too many keys in all.

    Runs in linear time; stops at the first problem (the rest of a hostile file is not worth reading).
    """
    commas: list[int] = []  # per open bracket: the entries seen so far
    dots = keys = 0
    line = 1
    for match in _TOKENS.finditer(text):
        token = match.group()
        first = token[0]
        if first in "\"'":
            line += token.count("\n")
        elif first == "\n":
            line += 1
            dots = 0
        elif first in "[{":
            keys += not commas  # a table header counts as a key
            commas.append(0)
            dots = 0
            if len(commas) > MAX_DEPTH:
                yield f"line {line}", f"nested more than {MAX_DEPTH} levels deep (arrays and tables)"
                return
            if keys > MAX_KEYS:
                yield f"line {line}", f"more than the {MAX_KEYS} keys allowed in a manifest"
                return
        elif first in "]}":
            if commas:
                commas.pop()
            dots = 0
        elif first == ",":
            dots = 0
            if commas:
                commas[-1] += 1
                if commas[-1] >= MAX_ENTRIES:
                    yield f"line {line}", f"more than the {MAX_ENTRIES} entries allowed in one array or table"
                    return
        elif first == "=":
            dots = 0
            keys += 1
            if keys > MAX_KEYS:
                yield f"line {line}", f"more than the {MAX_KEYS} keys allowed in a manifest"
                return
        elif first == ".":
            dots += 1
            if dots >= MAX_DEPTH:
                yield f"line {line}", f"a dotted key of more than {MAX_DEPTH} parts"
                return


def check_data(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Problems in the parsed document: depth, string and key lengths, entry counts, number ranges.

    Iterative (no recursion), and a too-deep or too-large branch is reported once and not entered.
    """
    stack: list[tuple[str, Any, int]] = [(path, data, 0)]
    while stack:
        where, value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            yield where, f"nested more than {MAX_DEPTH} levels deep"
            continue
        if isinstance(value, dict):
            if len(value) > MAX_ENTRIES:
                yield where, f"{len(value)} keys, more than the {MAX_ENTRIES} allowed"
                continue
            for key, child in reversed(value.items()):
                child_path = _join(where, key)
                if len(key) > MAX_KEY_CHARS:
                    yield _join(where, key[:40] + "…"), f"key of {len(key)} characters, more than {MAX_KEY_CHARS}"
                    continue
                stack.append((child_path, child, depth + 1))
        elif isinstance(value, list):
            if len(value) > MAX_ENTRIES:
                yield where, f"{len(value)} entries, more than the {MAX_ENTRIES} allowed"
                continue
            for n in reversed(range(len(value))):
                stack.append((f"{where}[{n}]", value[n], depth + 1))
        elif isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                yield where, f"{len(value)} characters, more than the {MAX_STRING_CHARS} allowed"
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                yield where, "integer out of range (must fit in 64 bits)"
        elif isinstance(value, float) and not math.isfinite(value):
            yield where, f"{value} is not a finite number"


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _join(where: str, key: str) -> str:
    """A field path a person can read back: ``a.b``, or ``a["odd key"]`` when the key is not bare."""
    if _BARE.fullmatch(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{key!r}]"
