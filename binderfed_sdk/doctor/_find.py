"""Every URL in a document that could be a Binder link or badge image, with its position.

Markdown, reStructuredText, HTML and plain text are read as text (a link is a URL wherever it
stands: inline, reference, autolink, `href`, `:target:`); a notebook only in its markdown
cells, whose source strings are scanned where they stand in the JSON text. Positions are
character offsets in the text decoded with surrogateescape, so edits write back byte-exact.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Final

from binderfed_sdk.doctor._notebook import markdown_spans

__all__ = ["DOCUMENT_SUFFIXES", "Found", "find_urls", "is_document"]

#: the documents searched for links
DOCUMENT_SUFFIXES: Final = frozenset(
    {".md", ".markdown", ".mdown", ".rst", ".txt", ".html", ".htm", ".ipynb", ".myst"}
)
# a URL stops at whitespace, control characters, quotes, brackets, '\' (a JSON escape) and
# '>' (rST's `<url>`_)
_URL: Final = re.compile(r"https?://[^\s\x00-\x1f\x7f<>\"'`\\)\]]+")
_TRAILING: Final = ".,;:!?*_"
# a cheap test before any regex: text without these holds nothing to check
_HINTS: Final = ("/v2/", "/repo/", "/build/", "badge")


@dataclass(frozen=True, slots=True)
class Found:
    start: int
    end: int
    #: the URL as written (HTML entities still in)
    raw: str
    #: the URL as a browser reads it
    url: str
    #: a notebook's cell number, from 1
    cell: int | None = None


def is_document(path: str) -> bool:
    dot = path.rfind(".")
    return dot >= 0 and path[dot:].lower() in DOCUMENT_SUFFIXES


def _scan(text: str, start: int, end: int, cell: int | None, out: list[Found]) -> None:
    for match in _URL.finditer(text, start, end):
        raw = match.group().rstrip(_TRAILING)
        if not raw:
            continue
        url = html.unescape(raw) if "&" in raw else raw
        out.append(Found(match.start(), match.start() + len(raw), raw, url, cell))


def find_urls(path: str, text: str) -> list[Found]:
    """The URLs of `text` (the document at `path`) that may matter to Binder."""
    if not any(hint in text for hint in _HINTS):
        return []
    found: list[Found] = []
    if path.lower().endswith(".ipynb"):
        for cell, start, end in markdown_spans(text):
            _scan(text, start, end, cell, found)
    else:
        _scan(text, 0, len(text), None, found)
    return found


def written_as(found: Found, url: str) -> str:
    """`url` written the way the original was (HTML-escaped if it was)."""
    if found.raw != found.url and "&amp;" in found.raw:
        return url.replace("&", "&amp;")
    return url
