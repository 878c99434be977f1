"""Real plates with their number replaced: the characters found, painted out, and a random
number of the region drawn in their place, in their colour, height, width and blur
(``restyled``), or set from the plate's own characters in a new order (``rearranged``).

The recognizer reads its training plates all but perfectly and a third fewer of the held-out US
plates, and those it misses are sharp: a state's picture, slogan or seal behind or between
characters it has not seen in that design. Drawn plates teach it fonts and layouts but not the
fifty real designs; a real design with a new number teaches it to read any number on that design
rather than to recall the number it learnt with the picture.
"""

from __future__ import annotations

from itertools import groupby

import cv2
import numpy as np

from streamer.charset import normalize_text
from trainer.synth.glyphs import draw_glyph, glyph
from trainer.synth.plates import us_number_face
from trainer.synth.texts import fill_pattern, us_text


def same_shape(text: str, rng: np.random.Generator) -> str:
    """A random number with the letters and digits where ``text`` has them, and a gap between
    runs of two or more (the Brazilian and Argentine formats: ABC 1234, AB 123 CD, ABC1D23)."""
    runs = ["".join("9" if c.isdigit() else "L" for c in g) for _, g in groupby(text, str.isdigit)]
    pattern = runs[0]
    for before, run in zip(runs, runs[1:]):
        pattern += (" " if len(before) > 1 and len(run) > 1 else "") + run
    return fill_pattern(pattern, rng)


def new_number(group: str, text: str, rng: np.random.Generator) -> str:
    """A US plate gets any US number (state formats, free mixes, vanity words: the designs
    carry them all); others one of the same shape as their own, which their country fixes."""
    return us_text(rng) if group == "us" else same_shape(text, rng)


#: the groups of whole-plate crops whose plates are restyled (the Chinese ones are read well)
RESTYLED_GROUPS = ("us", "br", "ar")


def character_boxes(plate: np.ndarray) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """The boxes (x, y, w, h) of the number's characters (or none) and the plate's ink.

    The ink is what is darker than the plate around it (black, blue, red or green on a light
    face: most US and Mercosur designs) or lighter (the white on red or grey of old Brazilian
    plates, a night camera's glowing characters), whichever finds more characters; the number's
    are the row of similar, tall shapes across the middle (state names, slogans and stickers
    are small).
    """
    found = [characters_in(plate, op) for op in (cv2.MORPH_BLACKHAT, cv2.MORPH_TOPHAT)]
    return max(found, key=lambda f: len(f[0]))


def characters_in(plate: np.ndarray, op: int) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """``character_boxes`` for ink of one polarity (a black-hat or top-hat filter's)."""
    gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    k = max(3, int(h * 0.35)) | 1
    contrast = cv2.morphologyEx(gray, op, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    _, ink = cv2.threshold(contrast, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    tall = [
        i
        for i in range(1, n)
        if 0.3 * h <= stats[i, 3] <= 0.8 * h
        and stats[i, 2] <= 0.25 * w
        and 0.2 * h <= stats[i, 1] + stats[i, 3] / 2 <= 0.75 * h
    ]
    if len(tall) < 3:
        return [], ink
    height = float(np.median(stats[tall, 3]))
    top = float(np.median(stats[tall, 1]))
    chars = [
        i
        for i in tall
        if abs(stats[i, 3] - height) < 0.15 * height and abs(stats[i, 1] - top) < 0.15 * height
    ]
    if len(chars) < 3:
        return [], ink
    return [tuple(int(v) for v in stats[i, :4]) for i in chars], ink


def edge_blur(plate: np.ndarray, band: np.ndarray) -> float:
    """The Gaussian blur (sigma, pixels) of the plate's edges in the number's row, so the new
    number is as soft as the old: a blurred edge of contrast C rises at most C / (2.5 sigma)
    a pixel."""
    gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0) / 8, cv2.Sobel(gray, cv2.CV_32F, 0, 1) / 8
    inside = band > 0
    steepest = np.percentile(np.hypot(gx, gy)[inside], 99)
    contrast = np.subtract(*np.percentile(gray[inside], [95, 5]))
    return float(np.clip(contrast / max(steepest, 1e-3) / 2.5, 0.3, 4.0))


def restyled(
    plate: np.ndarray, group: str, text: str, rng: np.random.Generator
) -> tuple[np.ndarray, str] | None:
    """The plate with a new number of its group's region, or None where its characters are not
    found cleanly (then the plate is better left out than drawn over a half-erased number)."""
    boxes, ink = character_boxes(plate)
    if not boxes:
        return None
    row = number_row(boxes)
    number, band = row_ink(row, ink)
    clean = erased(plate, number, row[3])
    core = cv2.erode(number, np.ones((3, 3), np.uint8))
    color = np.median(plate[core > 0] if core.any() else plate[number > 0], axis=0)
    printed = new_number(group, text, rng)
    drawn = number_ink(printed, plate.shape[:2], row, rng)
    drawn = cv2.GaussianBlur(drawn, (0, 0), edge_blur(plate, band))[..., None]
    out = clean.astype(np.float32) * (1 - drawn) + drawn * color.astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8), normalize_text(printed)


def number_row(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int, int]:
    """The number's row from its characters' boxes: left, right, top, character height and
    width (the medians, so one odd box does not move it)."""
    x1, x2 = min(b[0] for b in boxes), max(b[0] + b[2] for b in boxes)
    top = int(np.median([b[1] for b in boxes]))
    height, width = (int(np.median([b[i] for b in boxes])) for i in (3, 2))
    return x1, x2, top, height, width


def row_ink(row: tuple[int, int, int, int, int], ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ink across the number's ``row`` (pieces the character search missed too, and
    pictures between characters) and the band of that row."""
    x1, x2, top, height, width = row
    band = np.zeros_like(ink)
    band[
        max(0, top - height // 8) : top + height + height // 8, max(0, x1 - width) : x2 + width
    ] = 255
    return cv2.bitwise_and(ink, band), band


def boxes_ink(boxes: list[tuple[int, int, int, int]], ink: np.ndarray) -> np.ndarray:
    """The ink inside the characters' boxes alone: a picture between them stays."""
    inside = np.zeros_like(ink)
    for x, y, w, h in boxes:
        inside[y : y + h, x : x + w] = ink[y : y + h, x : x + w]
    return inside


def erased(plate: np.ndarray, number: np.ndarray, height: int) -> np.ndarray:
    """The plate with the ink ``number`` (of characters ``height`` high) painted out by
    OpenCV's inpainting."""
    stroke = stroke_width(height)
    erase = cv2.dilate(number, np.ones((2 * stroke + 1, 2 * stroke + 1), np.uint8))
    return cv2.inpaint(plate, erase, max(3, 2 * stroke), cv2.INPAINT_TELEA)


def stroke_width(height: int) -> int:
    """About a character stroke's width in pixels, for characters ``height`` high."""
    return max(1, int(round(height * 0.06)))


def rearranged(
    plate: np.ndarray, group: str, text: str, rng: np.random.Generator
) -> tuple[np.ndarray, str] | None:
    """The plate with a new number made of its own characters (cut out with their pixels and
    set again in a new order, some twice, some left out), or None where the characters found
    are not ``text``'s one for one. Unlike ``restyled`` the number keeps the design's own
    type face, which no font here draws (the condensed faces of most US states)."""
    boxes, ink = character_boxes(plate)
    boxes = sorted(boxes)
    if len(text) < 3 or not one_box_a_character(boxes, text):
        return None
    order = new_order(group, text, rng)
    lefts = order and character_lefts(boxes, order, plate.shape[1])
    if not lefts:
        return None
    clean = erased(plate, boxes_ink(boxes, ink), number_row(boxes)[3])
    out = clean.astype(np.float32)
    for k, left in zip(order, lefts):
        paste_character(out, plate, ink, boxes[k], left)
    return np.clip(out, 0, 255).astype(np.uint8), "".join(text[k] for k in order)


#: characters much narrower or wider than the others in plate faces
NARROW, WIDE = "1I", "MW"


def one_box_a_character(boxes: list[tuple[int, int, int, int]], text: str) -> bool:
    """Whether the boxes (left to right) are ``text``'s characters one by one: as many, and
    narrow or wide exactly where the text has a narrow or wide character (a frame's edge taken
    for a character, or two characters run together, would shift or widen some)."""
    if len(boxes) != len(text):
        return False
    normal = [b[2] for b, c in zip(boxes, text) if c not in NARROW + WIDE]
    if not normal:
        return False
    median = float(np.median(normal))

    def fits(width: int, c: str) -> bool:
        if c in NARROW:
            return width < 0.8 * median
        if c in WIDE:
            return median < width < 2.2 * median
        return 0.78 * median < width < 1.45 * median

    return all(fits(b[2], c) for b, c in zip(boxes, text))


def new_order(group: str, text: str, rng: np.random.Generator) -> list[int] | None:
    """Indices of ``text``'s characters for a new number that differs from it, drawn with
    repeats; None after ten tries. A US number may be one shorter or longer and mix letters and
    digits freely, and half the time takes letters only (given three different ones), since
    vanity plates (all letters, or nearly) are the US reads the recognizer misses most; others
    keep their letters and digits where their country's format has them."""
    n = len(text)
    same_kind = [[j for j in range(n) if text[j].isdigit() == c.isdigit()] for c in text]
    letters = [j for j in range(n) if not text[j].isdigit()]
    # from one or two letters a letters-only number is a letter repeated (AAAA, ABBA): no word
    spell_from_letters = len({text[j] for j in letters}) >= 3
    for _ in range(10):
        if group == "us":
            length = int(np.clip(n + rng.choice([-1, 0, 0, 1]), 3, 8))
            pool = letters if spell_from_letters and rng.random() < 0.5 else list(range(n))
            order = [int(pool[k]) for k in rng.integers(0, len(pool), length)]
        else:
            order = [int(rng.choice(kind)) for kind in same_kind]
        if "".join(text[k] for k in order) != text:
            return order
    return None


def character_lefts(
    boxes: list[tuple[int, int, int, int]], order: list[int], plate_width: int
) -> list[int] | None:
    """Where each character of ``order`` goes (its left column): centred in the old number's
    places where it is as long (the design's gaps and separators stay), else set evenly at the
    old number's median gap about its centre; None where it would not fit the plate."""
    if len(order) == len(boxes):
        return [round(b[0] + (b[2] - boxes[k][2]) / 2) for b, k in zip(boxes, order)]
    gap = max(1.0, float(np.median([b[0] - (a[0] + a[2]) for a, b in zip(boxes, boxes[1:])])))
    total = sum(boxes[k][2] for k in order) + gap * (len(order) - 1)
    if total > 0.94 * plate_width:
        return None
    left = (boxes[0][0] + boxes[-1][0] + boxes[-1][2]) / 2 - total / 2
    lefts = []
    for k in order:
        lefts.append(round(left))
        left += boxes[k][2] + gap
    return lefts


def paste_character(
    out: np.ndarray, plate: np.ndarray, ink: np.ndarray, box: tuple[int, int, int, int], x: int
) -> None:
    """Blend one character of ``plate`` (its pixels where its ink is, softened at the edge)
    into ``out`` at column ``x``, at its own height."""
    bx, by, bw, bh = box
    m = stroke_width(bh)
    h, w = plate.shape[:2]
    x0, y0 = max(0, bx - m), max(0, by - m)
    x1, y1 = min(w, bx + bw + m), min(h, by + bh + m)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[by - y0 : by - y0 + bh, bx - x0 : bx - x0 + bw] = ink[by : by + bh, bx : bx + bw]
    mask = cv2.dilate(mask, np.ones((2 * m + 1, 2 * m + 1), np.uint8))
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(0.5, m / 2))[..., None]
    tx0 = x - (bx - x0)
    sx0, sx1 = max(0, -tx0), min(x1 - x0, w - tx0)
    if sx1 <= sx0:
        return
    region = out[y0:y1, tx0 + sx0 : tx0 + sx1]
    a = alpha[:, sx0:sx1]
    region[:] = region * (1 - a) + plate[y0:y1, x0 + sx0 : x0 + sx1].astype(np.float32) * a


def number_ink(
    printed: str,
    size: tuple[int, int],
    row: tuple[int, int, int, int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """An ink mask (float, of the plate's ``size``: rows, columns) of ``printed`` drawn in the
    old number's ``row`` (left, right, top, character height and width), centred on it, as high
    and about as wide per character as its characters, squeezed where it would not fit."""
    x1, x2, top, height, width = row
    plate_width = size[1]
    font, weight = us_number_face(rng)
    glyphs = [glyph(c, font, weight) if c.isalnum() else None for c in printed]
    gap = height * rng.uniform(0.05, 0.2)
    # as wide as the design's own characters, which range from condensed (Utah) to wide
    aspect = float(np.median([g.aspect for g in glyphs if g] or [1.0]))
    widen = float(np.clip(width / height / aspect, 0.6, 1.4)) * rng.uniform(0.9, 1.1)
    widths = [g.aspect * height * widen if g else 0.4 * height for g in glyphs]
    total = sum(widths) + gap * (len(printed) - 1)
    squeeze = min(1.0, plate_width * 0.94 / total)
    left = (x1 + x2) / 2 - total * squeeze / 2 + rng.normal(0, 0.03) * (x2 - x1)
    left = float(np.clip(left, 0.03 * plate_width, 0.97 * plate_width - total * squeeze))
    ink = np.zeros((*size, 1), np.float32)
    for g, w in zip(glyphs, widths):
        if g:
            cell = (left, top + rng.normal(0, 0.01) * height, w * squeeze, height)
            draw_glyph(ink, g, cell, (1.0,))
        left += (w + gap) * squeeze
    return ink[..., 0]
