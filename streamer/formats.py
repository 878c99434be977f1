"""Plate formats: regular expressions per region, and the likeliest text that matches one.

A format does more than reject: the recognizer gives a probability for every character at every
position, so a read that misses the format by one confusable character (``NW4MX45`` for the
German ``NWMMX45``, ``6BNSND`` for the Dutch ``68NSND``) is corrected to the most probable text
that fits, as ALPR products do with their country templates. Only texts nearly as probable as the
plain read are considered, so a format never invents a plate the recognizer did not see.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Sequence

import numpy as np

#: Built-in formats by region, as texts are compared: letters and digits only, no separators.
#: Each lists the current series and the older ones still on the road.
_NL = "BDFGHJKLMNPRSTVXZ"  # Dutch series since 1978: no vowels, nor C, Q, W, Y (M: motorcycles)
REGION_FORMATS: dict[str, tuple[str, ...]] = {
    "nl": (
        "[A-Z]{2}[0-9]{2}[0-9]{2}", "[0-9]{2}[0-9]{2}[A-Z]{2}", "[0-9]{2}[A-Z]{2}[0-9]{2}",
        f"[{_NL}]{{2}}[0-9]{{2}}[{_NL}]{{2}}", f"[{_NL}]{{4}}[0-9]{{2}}",
        f"[0-9]{{2}}[{_NL}]{{4}}", f"[0-9]{{2}}[{_NL}]{{3}}[0-9]", f"[0-9][{_NL}]{{3}}[0-9]{{2}}",
        f"[{_NL}]{{2}}[0-9]{{3}}[{_NL}]", f"[{_NL}][0-9]{{3}}[{_NL}]{{2}}",
        f"[{_NL}]{{3}}[0-9]{{2}}[{_NL}]", f"[{_NL}][0-9]{{2}}[{_NL}]{{3}}",
        f"[0-9][{_NL}]{{2}}[0-9]{{3}}", f"[0-9]{{3}}[{_NL}]{{2}}[0-9]",
    ),
    # district (1-3 letters), 1-2 letters, 1-4 digits, E (electric) or H (historic)
    "de": ("(?=.{3,9}$)[A-Z]{1,3}[A-Z]{1,2}[1-9][0-9]{0,3}[EH]?",),
    "fr": ("[A-Z]{2}[0-9]{3}[A-Z]{2}", "[0-9]{1,4}[A-Z]{1,3}[0-9]{2}"),
    "be": ("[0-9][A-Z]{3}[0-9]{3}", "[A-Z]{3}[0-9]{3}"),
    "it": ("[A-Z]{2}[0-9]{3}[A-Z]{2}",),
    "es": ("[0-9]{4}[BCDFGHJKLMNPRSTVWXYZ]{3}", "[A-Z]{1,2}[0-9]{4}[A-Z]{0,2}"),
    # district (1-2 letters), then digits and letters
    "at": ("(?=.{4,8}$)[A-Z]{1,2}[0-9A-Z]*[0-9][0-9A-Z]*",),
    # since 2001 (area, age, three letters), the prefix and suffix series, dateless numbers
    "uk": (
        "[A-HJ-PR-Y][A-HJ-PR-Z][0-9]{2}[A-HJ-PR-Z]{3}", "[A-HJ-NP-Y][0-9]{1,3}[A-Z]{3}",
        "[A-Z]{3}[0-9]{1,3}[A-HJ-NP-Y]", "[A-Z]{1,3}[0-9]{1,4}", "[0-9]{1,4}[A-Z]{1,3}",
    ),
    # city (2 letters), 3-4 digits, 1-2 letters (a read without it: RK9O6AJ for RK906AJ)
    "hr": ("[A-Z]{2}[0-9]{3,4}[A-Z]{1,2}",),
    # region digit, region letter, then a letter or digit and four digits
    "cz": ("[0-9][A-Z][0-9A-Z][0-9]{4}",),
    "sk": ("[A-Z]{2}[0-9]{3}[A-Z]{2}",),
    # the one pattern since 2014 and the two older series with a dash between pairs
    "pt": (
        "[A-Z]{2}[0-9]{2}[A-Z]{2}", "[0-9]{2}[A-Z]{2}[0-9]{2}", "[0-9]{2}[0-9]{2}[A-Z]{2}",
        "[A-Z]{2}[0-9]{2}[0-9]{2}",
    ),
    # county (1-2 letters), 2-3 digits, three letters
    "ro": ("[A-Z]{1,2}[0-9]{2,3}[A-Z]{3}",),
    # three letters and three digits; four letters and three digits since 2022
    "hu": ("[A-Z]{3,4}[0-9]{3}",),
    # canton (2 letters) and up to six digits
    "ch": ("[A-Z]{2}[0-9]{1,6}",),
    # three letters, two digits, a digit or (since 2019) a letter
    "se": ("[A-Z]{3}[0-9]{2}[0-9A-Z]",),
    "dk": ("[A-Z]{2}[0-9]{5}",),
    "no": ("[A-Z]{2}[0-9]{4,5}",),
    "fi": ("[A-Z]{2,3}[0-9]{1,3}",),
    # area (2 letters) and five characters from a digit on, or (3 letters) four or five
    "pl": ("[A-Z]{2}[0-9][0-9A-Z]{4}", "(?=[A-Z]{3}[A-Z]*[0-9])[A-Z]{3}[0-9A-Z]{4,5}"),
    "lt": ("[A-Z]{3}[0-9]{3}",),
    "lv": ("[A-Z]{2}[0-9]{1,4}",),
    "ee": ("[0-9]{3}[A-Z]{3}",),
    # Greek and Bulgarian plates use the letters that look alike in both alphabets
    "gr": ("[ABEHIKMNOPTXYZ]{3}[0-9]{4}",),
    "bg": ("[ABCEHKMOPTXY]{1,2}[0-9]{4}[ABCEHKMOPTXY]{2}",),
    # year (2-3 digits), county (1-2 letters), serial
    "ie": ("[0-9]{2,3}[A-Z]{1,2}[0-9]{1,6}",),
    # old series and Mercosur
    "br": ("[A-Z]{3}[0-9]{4}", "[A-Z]{3}[0-9][A-Z][0-9]{2}"),
    "ar": ("[A-Z]{3}[0-9]{3}", "[A-Z]{2}[0-9]{3}[A-Z]{2}"),
    # province, city letter, 5 (6 for new-energy plates) letters and digits without I and O
    "cn": (
        "[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z][A-HJ-NP-Z0-9]{5,6}",
    ),
}  # fmt: skip

#: candidates tried per text, best first, before giving up on a match
MAX_CANDIDATES = 500
#: a matching text must be at least this probable relative to the plain read
MIN_RELATIVE_PROBABILITY = 1e-3
#: characters considered at each position
TOP_PER_POSITION = 5


def region_formats(regions: list[str]) -> list[str]:
    """The built-in formats of the named regions; raises ValueError naming an unknown one."""
    unknown = [r for r in regions if r.lower() not in REGION_FORMATS]
    if unknown:
        raise ValueError(
            f"unknown region {unknown[0]!r} (known: {', '.join(sorted(REGION_FORMATS))})"
        )
    return [f for r in regions for f in REGION_FORMATS[r.lower()]]


def compile_formats(patterns: list[str], regions: list[str]) -> tuple[re.Pattern, ...]:
    """The given patterns and the named regions' built-in ones, compiled."""
    return tuple(re.compile(f) for f in [*patterns, *region_formats(regions)])


def best_matching_text(
    probs: np.ndarray, charset: tuple[str, ...], formats: Sequence[re.Pattern]
) -> tuple[str, list[float]] | None:
    """The most probable text of ``len(probs)`` characters that fully matches a format.

    ``probs`` is (length, classes) with class 0 the end class, which is never a character here.
    Texts are tried from the most probable down (the k best combinations of independent
    positions), up to ``MAX_CANDIDATES`` of them and down to ``MIN_RELATIVE_PROBABILITY`` of the
    best; None when none matches.
    """
    k = min(TOP_PER_POSITION, probs.shape[1] - 1)
    options = np.argsort(-probs[:, 1:], axis=1)[:, :k] + 1  # (length, k) classes, best first
    logp = np.log(np.maximum(np.take_along_axis(probs, options, 1), 1e-12))
    floor = logp[:, 0].sum() + math.log(MIN_RELATIVE_PROBABILITY)
    start = (0,) * len(probs)
    heap, seen = [(-logp[:, 0].sum(), start)], {start}
    for _ in range(MAX_CANDIDATES):
        if not heap:
            break
        neg, ranks = heapq.heappop(heap)
        if -neg < floor:
            break
        text = "".join(charset[options[i, r]] for i, r in enumerate(ranks))
        if any(f.fullmatch(text) for f in formats):
            return text, [float(probs[i, options[i, r]]) for i, r in enumerate(ranks)]
        for i, r in enumerate(ranks):
            if r + 1 < k:
                nxt = ranks[:i] + (r + 1,) + ranks[i + 1 :]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (neg + logp[i, r] - logp[i, r + 1], nxt))
    return None
