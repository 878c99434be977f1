"""Plate numbers as they are printed, per plate style.

Each style has the formats its country issues, written as patterns: ``L`` is a letter of that
style's alphabet, ``9`` a digit, anything else is printed as it stands (a dash, a space, the
Chinese separator dot ``·``). Realistic alphabets matter for the recognizer's priors: Chinese
plates never use I or O, Dutch plates use no vowels, Mercosur plates mix letters and digits in
fixed positions.
"""

from __future__ import annotations

import numpy as np

from streamer.charset import PROVINCES

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CN_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
NL_LETTERS = "BDFGHJKLNPRSTVXZ"
FR_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"
ES_LETTERS = "BCDFGHJKLMNPRSTVWXYZ"
DIGITS = "0123456789"
#: most US plates print O and 0 with one glyph, and their labels write it 0
US_LETTERS = "ABCDEFGHIJKLMNPQRSTUVWXYZ"
UK_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"  # no I or Q
US_VOWELS = "AEIUY0"
US_CONSONANTS = "BCDFGHJKLMNPQRSTVWXZ"

#: where the first letter of a Chinese plate is mostly one of the first few (A is the capital)
CN_CITY_WEIGHTS = np.array([0.4, 0.2, 0.12, 0.08, 0.05] + [0.15 / 19] * 19)

FORMATS: dict[str, tuple[str, ...]] = {
    "nl": (
        "LL-99-99", "99-99-LL", "99-LL-99", "LL-99-LL", "LL-LL-99", "99-LL-LL",
        "99-LLL-9", "9-LLL-99", "LL-999-L", "L-999-LL", "LLL-99-L", "L-99-LLL",
        "9-LL-999", "999-LL-9",
    ),
    "fr": ("LL-999-LL",),
    "be": ("1-LLL-999", "2-LLL-999"),
    "es": ("9999 LLL",),
    "it": ("LL 999LL",),
    "de": ("L LL 999", "LL L 9999", "LLL LL 99", "L L 999"),
    "at": ("9999 LL", "999 LL", "99 LLL", "9999 L", "999 L"),  # after the district code
    "us": (
        "LLL 9999", "LLL-9999", "9LLL999", "999 LLL", "LLL 999", "99L 999", "LL 99999",
        "9LL L99", "LLL9999", "999-LLL", "L99 9LL", "99999",
    ),
    "br_grey": ("LLL-9999",),
    "br_mercosur": ("LLL9L99",),
    "ar_old": ("LLL 999",),
    "ar_mercosur": ("LL 999 LL",),
    "in": ("99 LL 9999", "99 L 9999", "9 LL 9999"),  # after the state code
    # UK since 2001 (listed twice: most plates on the road), the older prefix and suffix
    # forms, Hong Kong's
    "uk": ("LL99 LLL", "LL99 LLL", "L999 LLL", "LLL 999L", "LL 9999", "LL 999"),
    "id": ("L 9999 LLL", "LL 9999 LL", "L 999 LL", "LL 99 L", "L 9999 LL", "LL 9999 LLL"),
}  # fmt: skip

#: the commonest Indian state and territory codes, the first two letters of every plate
IN_STATES = (
    "MH", "DL", "KA", "TN", "HR", "HP", "UP", "GJ", "RJ", "AP", "TS", "KL", "WB", "PB", "MP",
    "BR", "OD", "CH", "UK", "JK", "AS", "GA", "CG", "JH",
)  # fmt: skip

#: Austrian district codes: the cities' single letters (Wien, Graz, Linz, Salzburg, Innsbruck,
#: Klagenfurt, Bregenz, Eisenstadt, St. Pölten) and a sample of the districts' two. Random letters
#: would almost never put the I of Innsbruck before the shield, which a reader then takes for a 1.
AT_CITIES = ("W", "G", "L", "S", "I", "K", "B", "E", "P")
AT_DISTRICTS = (
    "LL", "IL", "SL", "KL", "GU", "BN", "MD", "WB", "BL", "KO", "TU", "VB", "GM", "BR", "SD",
    "ZE", "HA", "JO", "KU", "SZ", "LZ", "IM", "DO", "FK", "BZ", "VI", "VL", "SP", "WO", "LB",
    "LE", "WZ", "HF", "MU", "EU", "ND", "OW", "MA", "GS",
)  # fmt: skip

ALPHABETS = {
    "nl": NL_LETTERS, "fr": FR_LETTERS, "it": FR_LETTERS, "es": ES_LETTERS, "us": US_LETTERS,
    "uk": UK_LETTERS,
}  # fmt: skip


#: chance that a letter or digit repeats the one before it (if of the same kind), on top of
#: chance: a reader's character queries lose count in runs of one glyph (68NSNDD, 888BTS, 3336
#: read 336), so runs are drawn more often than uniform characters give them
REPEAT_SHARE = 0.15


def fill_pattern(pattern: str, rng: np.random.Generator, letters: str = LETTERS) -> str:
    """Replace each ``L`` with a random letter and each ``9`` with a random digit, now and then
    the one before it again (``REPEAT_SHARE``)."""
    out: list[str] = []
    for k, ch in enumerate(pattern):
        if ch in "L9" and k and pattern[k - 1] == ch and rng.random() < REPEAT_SHARE:
            out.append(out[-1])
        elif ch == "L":
            out.append(letters[rng.integers(len(letters))])
        elif ch == "9":
            out.append(DIGITS[rng.integers(10)])
        else:
            out.append(ch)
    return "".join(out)


def formatted_text(kind: str, rng: np.random.Generator) -> str:
    """A random plate number of one of the formats in ``FORMATS[kind]``."""
    patterns = FORMATS[kind]
    return fill_pattern(patterns[rng.integers(len(patterns))], rng, ALPHABETS.get(kind, LETTERS))


def us_text(rng: np.random.Generator) -> str:
    """A state format, a free mix of letters and digits, or a vanity word.

    Real US plates are about a third free-form, so a recognizer fed only the state formats
    learns their lengths and letter positions and then adds or drops a character on the rest.
    Vanity words are a third of the numbers drawn: a quarter of the held-out US crops have two
    digits or fewer, and the recognizer of 2026-12-06 read about half of them (and of such
    drawn plates) against nine in ten of the others, most misses a letter dropped or doubled.
    """
    kind = rng.choice(3, p=[0.4, 0.25, 0.35])
    if kind == 0:
        return formatted_text("us", rng)
    if kind == 1:
        length = rng.choice([4, 5, 6, 7], p=[0.1, 0.2, 0.45, 0.25])
        return "".join(
            US_LETTERS[rng.integers(len(US_LETTERS))]
            if rng.random() < 0.4
            else DIGITS[rng.integers(10)]
            for _ in range(length)
        )
    return vanity_word(rng)


def vanity_word(rng: np.random.Generator) -> str:
    """A made-up word of 2-8 characters, consonants and vowels mostly taking turns as in
    spoken words, some letters doubled (GAGGED, BLOGGER: where a reader that loses count
    drops or adds one), and the odd digit standing in for a sound (4 for FOR, 8 for ATE)."""
    length = rng.choice([2, 3, 4, 5, 6, 7, 8], p=[0.03, 0.08, 0.15, 0.2, 0.24, 0.22, 0.08])
    out: list[str] = []
    vowel = rng.random() < 0.3
    while len(out) < length:
        if rng.random() < 0.08:
            out.append("248"[rng.integers(3)])
        else:
            pool = US_VOWELS if vowel else US_CONSONANTS
            out.append(pool[rng.integers(len(pool))])
            if rng.random() < 0.12:
                out.append(out[-1])
        vowel = not vowel if rng.random() < 0.75 else vowel
    return "".join(out[:length])


def austrian_text(rng: np.random.Generator) -> str:
    """District code (a city's letter half the time), then the serial: I 7859 AM."""
    codes = AT_CITIES if rng.random() < 0.5 else AT_DISTRICTS
    return codes[rng.integers(len(codes))] + " " + formatted_text("at", rng)


def indian_text(rng: np.random.Generator) -> str:
    """State code, district number, series letters, number: MH 12 AB 1234."""
    return IN_STATES[rng.integers(len(IN_STATES))] + " " + formatted_text("in", rng)


def chinese_blue_text(rng: np.random.Generator) -> str:
    """Province, city letter, dot, then five characters with at most two letters (as issued)."""
    tail = [DIGITS[rng.integers(10)] for _ in range(5)]
    for pos in rng.choice(5, size=rng.choice(3, p=[0.45, 0.35, 0.2]), replace=False):
        tail[pos] = CN_LETTERS[rng.integers(len(CN_LETTERS))]
    return _province_and_city(rng) + "·" + "".join(tail)


def chinese_green_text(rng: np.random.Generator) -> str:
    """New-energy numbers: D (electric) or F (hybrid) first for small cars, last for large."""
    kind = "DF"[rng.integers(2)]
    if rng.random() < 0.8:
        second = (CN_LETTERS + DIGITS)[rng.integers(len(CN_LETTERS) + 10)]
        tail = kind + second + fill_pattern("9999", rng)
    else:
        tail = fill_pattern("99999", rng) + kind
    return _province_and_city(rng) + "·" + tail


def _province_and_city(rng: np.random.Generator) -> str:
    province = PROVINCES[rng.integers(len(PROVINCES) - 2)]  # 警 and 学 are rare special plates
    city = CN_LETTERS[rng.choice(len(CN_LETTERS), p=CN_CITY_WEIGHTS / CN_CITY_WEIGHTS.sum())]
    return province + city
