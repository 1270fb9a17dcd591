"""The emoji catalog: names and keywords from the emoji package, art from OpenMoji."""

import pytest

from emojisketch import catalog


def test_every_entry_has_a_name_and_an_existing_svg():
    entries = catalog.entries()
    assert len(entries) > 3000  # the emoji package lists ~4000 fully-qualified emoji
    for entry in entries:
        assert entry.name and entry.name == entry.name.lower()
        assert entry.svg is not None and entry.svg.is_file(), entry


@pytest.mark.parametrize("text, expected", [
    ("🍎", "1F34E.svg"),
    ("❤️", "2764.svg"),  # OpenMoji names it without the FE0F selector
    ("❤", "2764.svg"),
    ("☀", "2600.svg"),
    ("👍🏽", "1F44D-1F3FD.svg"),
])
def test_svg_path_tries_with_and_without_fe0f(text, expected):
    path = catalog.svg_path(text)
    assert path is not None and path.name == expected


def test_svg_path_is_none_for_text_that_is_not_an_emoji():
    assert catalog.svg_path("abc") is None


def test_search_by_name_puts_the_exact_name_first():
    found = catalog.search("red apple")
    assert found[0].emoji == "🍎"


def test_search_by_alias_keyword():
    # 🍎's alias is "apple"; "thumbsup" is an alias of 👍 only.
    assert catalog.search("apple")[0].emoji == "🍎"
    assert "👍" in [e.emoji for e in catalog.search("thumbsup")[:3]]


def test_search_matches_word_prefixes_of_every_term():
    found = [e.emoji for e in catalog.search("smil cat")]
    assert "😺" in found or "😸" in found
    assert all("cat" in catalog.get(e).name or any("cat" in k for k in catalog.get(e).keywords)
               for e in found)


def test_search_with_the_emoji_itself_finds_it_first():
    assert catalog.search("🐟")[0].emoji == "🐟"


def test_search_empty_lists_everything_and_nonsense_finds_nothing():
    assert len(catalog.search("")) == len(catalog.entries())
    assert catalog.search("zzqxv") == []
    assert len(catalog.search("face", limit=5)) == 5


def test_get_and_name_of_accept_either_form_of_a_variation_selector():
    assert catalog.get("❤").emoji == "❤️"
    assert catalog.name_of("❤️") == "red heart"
    assert catalog.name_of("not an emoji") == "not an emoji"


def test_base_emoji_answer_to_their_quickdraw_word():
    emojis = pytest.importorskip("emojisketch.emojis")
    checked = 0
    for word, emoji in list(emojis.category_emoji().items())[:30]:
        entry = catalog.get(emoji)
        if entry is None:
            continue
        assert entry in catalog.search(word), (word, emoji)
        checked += 1
    assert checked > 0
