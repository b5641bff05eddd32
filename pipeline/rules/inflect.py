"""Word forms a rule term admits without a wildcard: English inflections (flee -> flees, fleeing, fled; never
fleet) and the case endings of Ukrainian and Russian names (Херсон -> Херсона, Херсоні, Херсоном).

Forms are generated, not matched by prefix, so a term can only ever match real forms of itself: `flee` has
the forms flee, flees, fleed, fleeing and (from the irregular table) fled — "fleet" is none of them.
"""

from __future__ import annotations

# Irregular English forms news keywords need; regular forms are generated.
IRREGULAR: dict[str, tuple[str, ...]] = {
    "flee": ("fled",), "fight": ("fought",), "shoot": ("shot",), "strike": ("struck", "stricken"),
    "leave": ("left",), "take": ("took", "taken"), "run": ("ran",), "win": ("won",), "lose": ("lost",),
    "catch": ("caught",), "hold": ("held",), "say": ("said",), "go": ("went", "gone", "goes"),
    "drive": ("drove", "driven"), "rise": ("rose", "risen"), "fall": ("fell", "fallen"), "sink": ("sank", "sunk"),
    "blow": ("blew", "blown"), "break": ("broke", "broken"), "steal": ("stole", "stolen"),
    "hide": ("hid", "hidden"), "freeze": ("froze", "frozen"), "shake": ("shook", "shaken"),
    "bring": ("brought",), "buy": ("bought",), "sell": ("sold",), "send": ("sent",), "burn": ("burnt",),
    "begin": ("began", "begun"), "come": ("came",), "tear": ("tore", "torn"),
    "die": ("died", "dying"), "lie": ("lay", "lain", "lying"), "seek": ("sought",), "spread": (),
    "sweep": ("swept",), "slay": ("slew", "slain"), "bleed": ("bled",), "feed": ("fed",), "lead": ("led",),
    "meet": ("met",), "shut": (), "hit": (), "quit": (), "set": (), "cut": (), "put": (), "hurt": (), "let": (),
    "child": ("children",), "man": ("men",), "woman": ("women",), "person": ("people",),
    "crisis": ("crises",), "casualty": ("casualties",), "refugee": ("refugees",), "militia": ("militias",),
}
_VOWELS = "aeiou"
# Ukrainian and Russian noun case endings (singular and the common plural ones).
CYRILLIC_ENDINGS = ("", "а", "я", "у", "ю", "і", "и", "ы", "е", "є", "о", "ом", "ем", "єм", "ой", "ою", "ею",
                    "ей", "ові", "еві", "ам", "ах", "ях", "ям", "ами", "ями")


def _double(word: str) -> bool:
    """One-syllable consonant-vowel-consonant verbs double the consonant: ban -> banned, shut -> shutting."""
    return (len(word) <= 4 and len(word) >= 3 and word[-1] not in _VOWELS + "wxy"
            and word[-2] in _VOWELS and word[-3] not in _VOWELS)


def english_forms(word: str) -> tuple[str, ...]:
    """`word` and its regular inflections (plural / 3rd person, past, -ing) plus irregular ones."""
    w = word
    forms = [w]
    if w.endswith(("s", "x", "z", "ch", "sh")):
        forms.append(w + "es")
    elif w.endswith("y") and len(w) > 2 and w[-2] not in _VOWELS:
        forms.append(w[:-1] + "ies")
    else:
        forms.append(w + "s")
    if w.endswith("e"):
        forms.append(w + "d")
    elif w.endswith("y") and len(w) > 2 and w[-2] not in _VOWELS:
        forms.append(w[:-1] + "ied")
    else:
        forms.append(w + "ed")
    if w.endswith("ie"):
        forms.append(w[:-2] + "ying")
    elif w.endswith("e") and not w.endswith(("ee", "ye", "oe")):
        forms.append(w[:-1] + "ing")
    else:
        forms.append(w + "ing")
    if _double(w):
        forms += [w + w[-1] + "ed", w + w[-1] + "ing"]
    forms += IRREGULAR.get(w, ())
    return tuple(dict.fromkeys(forms))


def is_cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


def cyrillic_forms(word: str) -> tuple[str, ...]:
    """A Ukrainian or Russian noun and its case forms: the stem (a final vowel, ь or й dropped) plus endings.
    Only for words of 4+ letters: shorter stems would reach other words."""
    if len(word) < 4:
        return (word,)
    stem = word[:-1] if word[-1] in "аяоеьйиіы" else word
    return tuple(dict.fromkeys([word, *(stem + e for e in CYRILLIC_ENDINGS)]))


def forms(word: str) -> tuple[str, ...]:
    """Every form `word` admits (the word first)."""
    if is_cyrillic(word):
        return cyrillic_forms(word)
    if word.isalpha() and len(word) >= 3:
        return english_forms(word)
    return (word,)
