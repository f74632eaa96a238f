"""Usernames that look alike: Unicode normalisation and a confusable skeleton.

``skeletons`` maps a name to forms in which look-alikes coincide: NFKC, then every
character replaced by one representative of the characters it can be mistaken for
(Unicode's confusables, as shipped by ``confusable-homoglyphs``; an ASCII one when
there is one), as written and case folded. "аlice" with a Cyrillic "а", "ALICE" and
"aIice" each share a skeleton with "alice".
"""

from __future__ import annotations

import unicodedata
from functools import cache

from confusable_homoglyphs import confusables


@cache
def _representatives() -> dict[str, str]:
    """Each confusable character's representative: the characters that can be mistaken
    for one another form a family (joined transitively), represented by its smallest
    ASCII member, or its smallest member when it has none."""
    parent: dict[str, str] = {}

    def root(char: str) -> str:
        parent.setdefault(char, char)
        while parent[char] != char:
            parent[char] = parent[parent[char]]
            char = parent[char]
        return char

    for char, glyphs in confusables.confusables_data.items():
        for glyph in glyphs:
            other = glyph["c"].strip("\u200e")  # right-to-left letters come marked
            if len(char) == 1 and len(other) == 1:
                parent[root(other)] = root(char)
    families: dict[str, list[str]] = {}
    for char in parent:
        families.setdefault(root(char), []).append(char)
    table = {}
    for members in families.values():
        plain = [c for c in members if c.isascii()]
        representative = min(plain) if plain else min(members)
        table.update(dict.fromkeys(members, representative))
    return table


def normalise(name: str) -> str:
    """The stored form of a username: NFKC, as Django's forms do it."""
    return unicodedata.normalize("NFKC", name)


def skeletons(name: str) -> set[str]:
    """Forms of ``name`` shared by the names that look like it: as written (so "aIice"
    meets "alice") and case folded (so "ALICE" meets "alice")."""
    table = _representatives()
    written = normalise(name)
    return {
        "".join(table.get(char, char) for char in form)
        for form in (written, unicodedata.normalize("NFKC", written.casefold()))
    }


def look_alike(name: str, existing) -> str | None:
    """The first of ``existing`` usernames other than ``name`` that looks like it, else None."""
    mine = skeletons(name)
    for other in existing:
        if other != name and mine & skeletons(other):
            return other
    return None
