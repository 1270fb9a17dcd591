"""The reviewed category -> emoji table: one emoji a category, each with OpenMoji art."""

import json

from emojisketch import emojis


def test_every_category_has_its_own_emoji_and_the_inverse_agrees():
    table = emojis.category_emoji()
    assert len(table) > 200
    assert len(set(table.values())) == len(table)
    inverse = emojis.emoji_category()
    assert all(table[inverse[e]] == e for e in inverse)
    assert emojis.base_labels() == list(table.values())


def test_every_emoji_has_openmoji_art():
    missing = [e for e in emojis.category_emoji().values() if emojis.openmoji_svg(e) is None]
    assert missing == []
    assert emojis.openmoji_svg("🍎").name == "1F34E.svg"
    assert emojis.openmoji_svg("\u2603").name.startswith("2603")  # snowman: with or without FE0F


def test_the_review_fixed_the_candidate_lists_mistakes():
    table = emojis.category_emoji()
    assert table["apple"] == "🍎" and table["laptop"] == "💻" and table["computer"] == "🖥️"
    for wrong in ("fire hydrant", "submarine", "washing machine", "popsicle", "sweater"):
        assert wrong not in table  # 🧯, 🤿, 🧺, 🍡, 🧶 are other things
    doc = json.loads(emojis.CATEGORIES_FILE.read_text(encoding="utf-8"))
    assert set(doc["review"]) >= {"fire hydrant", "lighthouse", "mug", "school bus"}


def test_a_copy_is_handed_out():
    emojis.category_emoji()["apple"] = "x"
    assert emojis.category_emoji()["apple"] == "🍎"
