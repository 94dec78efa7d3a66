"""Where a notebook's markdown cells are in its JSON text, without re-reading it as data.

The doctor edits a notebook by exact substring replacement in its text (its formatting stays
as it was), so it needs the character spans of each markdown cell's source strings. The
standard library's JSON parser gives no positions; this walker does, using its string scanner.
"""

from __future__ import annotations

import json.decoder
import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

#: the standard library's JSON string scanner (C): (decoded text, end) of the string at `end`
scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

__all__ = ["markdown_spans"]

_SPACE: Final = re.compile(r"[ \t\n\r]*")
_SCALAR: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null")
#: nesting deeper than this is no notebook (and would exhaust the stack)
_MAX_DEPTH: Final = 200


def _ws(text: str, i: int) -> int:
    match = _SPACE.match(text, i)
    return i if match is None else match.end()


def _skip(text: str, i: int, depth: int = 0) -> int:
    """The end of the JSON value at `i`."""
    if depth > _MAX_DEPTH:
        raise ValueError("too deeply nested")
    i = _ws(text, i)
    ch = text[i : i + 1]
    if ch == '"':
        return scanstring(text, i + 1)[1]
    if ch and ch in "{[":
        close = "}" if ch == "{" else "]"
        i = _ws(text, i + 1)
        if text[i : i + 1] == close:
            return i + 1
        while True:
            if ch == "{":
                i = _ws(text, i)
                if text[i : i + 1] != '"':
                    raise ValueError(f"expected a key at {i}")
                i = _ws(text, scanstring(text, i + 1)[1])
                if text[i : i + 1] != ":":
                    raise ValueError(f"expected ':' at {i}")
                i += 1
            i = _ws(text, _skip(text, i, depth + 1))
            if text[i : i + 1] == ",":
                i += 1
                continue
            if text[i : i + 1] == close:
                return i + 1
            raise ValueError(f"expected ',' or {close!r} at {i}")
    match = _SCALAR.match(text, i)
    if match is None:
        raise ValueError(f"unexpected text at {i}")
    return match.end()


def _members(text: str, i: int) -> list[tuple[str, int, int]]:
    """(key, value start, value end) of the object at `i`."""
    i = _ws(text, i)
    if text[i : i + 1] != "{":
        raise ValueError(f"expected an object at {i}")
    found: list[tuple[str, int, int]] = []
    i = _ws(text, i + 1)
    if text[i : i + 1] == "}":
        return found
    while True:
        if text[i : i + 1] != '"':
            raise ValueError(f"expected a key at {i}")
        key, i = scanstring(text, i + 1)
        i = _ws(text, i)
        if text[i : i + 1] != ":":
            raise ValueError(f"expected ':' at {i}")
        start = _ws(text, i + 1)
        end = _skip(text, start)
        found.append((key, start, end))
        i = _ws(text, end)
        if text[i : i + 1] == ",":
            i = _ws(text, i + 1)
            continue
        if text[i : i + 1] == "}":
            return found
        raise ValueError(f"expected ',' or '}}' at {i}")


def _elements(text: str, i: int) -> list[tuple[int, int]]:
    i = _ws(text, i)
    if text[i : i + 1] != "[":
        raise ValueError(f"expected an array at {i}")
    found: list[tuple[int, int]] = []
    i = _ws(text, i + 1)
    if text[i : i + 1] == "]":
        return found
    while True:
        end = _skip(text, i)
        found.append((i, end))
        i = _ws(text, end)
        if text[i : i + 1] == ",":
            i = _ws(text, i + 1)
            continue
        if text[i : i + 1] == "]":
            return found
        raise ValueError(f"expected ',' or ']' at {i}")


def markdown_spans(text: str) -> list[tuple[int, int, int]]:
    """(cell number from 1, start, end) of each markdown cell's source string contents (inside
    the quotes, still JSON-escaped). Raises ValueError for text that is not a notebook."""
    try:
        top = _members(text, 0)
        spans: list[tuple[int, int, int]] = []
        for key, start, _end in top:
            if key != "cells":
                continue
            for number, (cell_start, _) in enumerate(_elements(text, start), 1):
                fields = {k: (s, e) for k, s, e in _members(text, cell_start)}
                kind = fields.get("cell_type")
                source = fields.get("source")
                if kind is None or source is None:
                    continue
                if text[kind[0] : kind[1]] != '"markdown"':
                    continue
                pieces = _elements(text, source[0]) if text[source[0]] == "[" else [source]
                spans += [(number, s + 1, e - 1) for s, e in pieces if text[s] == '"']
        return spans
    except IndexError:  # the text ended inside a value
        msg = "not a notebook: its JSON ends early"
        raise ValueError(msg) from None
    except ValueError as error:
        msg = f"not a notebook: {error}"
        raise ValueError(msg) from None
