"""Rendered licence plates of several regions, front-on, with exact text.

Every style is drawn in millimetres from the country's plate layout (sizes, character cells,
bands, rims) and scaled by ``px_per_mm``, so that the proportions the detector and recognizer
learn (aspect ratio, character height over plate height, where the province character sits) are
those of real plates. Colours, stroke weight, embossing, wear and bolts vary per plate; lighting,
blur and perspective are the scene's business (``trainer.synth.scenes``).

Fonts are described in ``trainer.synth.glyphs``: the Chinese province characters come from a
shipped OFL subset of Noto Sans CJK, not from real crops.

The recognizer is trained on the single-line plates of ``READ_REGIONS``; India, Indonesia and the
two-row styles (``TWO_ROW_STYLES``) are drawn for the detector, which must find them in real
scenes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.charset import normalize_text
from trainer.synth.glyphs import Glyph, draw_glyph, draw_line, glyph, wide_light_glyph
from trainer.synth.texts import (
    austrian_text,
    chinese_blue_text,
    chinese_green_text,
    formatted_text,
    indian_text,
    us_text,
)

Color = tuple[float, float, float]  # BGR, 0..255
Box = tuple[float, float, float, float]  # x, y, w, h in plate pixels

EU_BLUE: Color = (153, 51, 0)
EU_YELLOW: Color = (0, 204, 255)
BLACK: Color = (25, 25, 25)
WHITE: Color = (240, 240, 240)
SEPARATORS = " -·"


@dataclass
class Plate:
    image: np.ndarray  # BGR uint8, the whole plate front-on
    alpha: np.ndarray  # float32 0..1, the plate's outline (rounded corners are transparent)
    text: str  # normalised (streamer.charset.normalize_text)
    printed: str  # as printed, with its dashes, spaces and dots
    region: str  # CN, EU, US, BR, AR, IN, ID: the same codes as the real labels
    style: str


@dataclass
class Canvas:
    """A plate being drawn: a float BGR image plus the ink layer of its characters, kept apart
    so that the characters can be embossed after all of them are drawn."""

    image: np.ndarray
    ink: np.ndarray
    px_per_mm: float

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def mm(self, *values: float) -> tuple[float, ...]:
        return tuple(v * self.px_per_mm for v in values)


# ---------------------------------------------------------------- drawing helpers


def _jitter(rng: np.random.Generator, color: Color, amount: float = 12) -> Color:
    """Mostly a brightness change, a little hue: paint fades, it does not change colour."""
    shift = rng.normal(0, amount)
    return tuple(float(np.clip(c + shift + rng.normal(0, amount / 4), 0, 255)) for c in color)


#: outer size (w, h) in millimetres of each style's plate
STYLE_SIZES_MM = {
    "cn_blue": (440, 140),
    "cn_green": (480, 140),
    "eu": (520, 110),
    "us": (305, 152),
    "br_grey": (400, 130),
    "br_mercosur": (400, 130),
    "ar_old": (294, 129),
    "ar_mercosur": (400, 130),
    "in_car": (500, 120),
    "in_square": (200, 100),
    "id_car": (395, 135),
    "id_moto": (255, 105),
    "uk_front": (520, 111),
    "uk_rear": (520, 111),
    "uk_square": (279, 203),
}


def new_canvas(style: str, px_per_mm: float, color: Color) -> Canvas:
    w_mm, h_mm = STYLE_SIZES_MM[style]
    w, h = int(round(w_mm * px_per_mm)), int(round(h_mm * px_per_mm))
    image = np.empty((h, w, 3), np.float32)
    image[:] = color
    return Canvas(image, np.zeros((h, w, 1), np.float32), px_per_mm)


def vertical_gradient(canvas: Canvas, y0: float, y1: float, top: Color, bottom: Color) -> None:
    """Fill rows y0..y1 (pixels) with a top-to-bottom colour ramp."""
    a, b = int(y0), int(y1)
    t = np.linspace(0, 1, b - a, dtype=np.float32)[:, None, None]
    canvas.image[a:b] = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t


def rounded_rect_mask(size: tuple[int, int], rect: Box, radius: float) -> np.ndarray:
    """Float mask of a filled rounded rectangle, drawn at 4x and shrunk for smooth edges."""
    k = 4
    w, h = size
    m = np.zeros((h * k, w * k), np.uint8)
    x, y, rw, rh = (int(round(v * k)) for v in rect)
    r = int(round(min(radius * k, rw / 2, rh / 2)))
    cv2.rectangle(m, (x + r, y), (x + rw - r, y + rh), 255, -1)
    cv2.rectangle(m, (x, y + r), (x + rw, y + rh - r), 255, -1)
    for cx, cy in (
        (x + r, y + r),
        (x + rw - r, y + r),
        (x + r, y + rh - r),
        (x + rw - r, y + rh - r),
    ):
        cv2.circle(m, (cx, cy), r, 255, -1)
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def fill(canvas: Canvas, mask: np.ndarray, color: Color) -> None:
    a = mask[..., None]
    canvas.image[:] = canvas.image * (1 - a) + a * np.asarray(color, np.float32)


def draw_rim(canvas: Canvas, inset_mm: float, width_mm: float, radius_mm: float, color: Color):
    """The raised border line most plates have, as the ring between two rounded rectangles."""
    w, h = canvas.size
    i, t, r = canvas.mm(inset_mm, width_mm, radius_mm)
    outer = rounded_rect_mask((w, h), (i, i, w - 2 * i, h - 2 * i), r)
    inner = rounded_rect_mask((w, h), (i + t, i + t, w - 2 * (i + t), h - 2 * (i + t)), r - t)
    fill(canvas, np.clip(outer - inner, 0, 1), color)


def draw_bolts(canvas: Canvas, centres_mm: list[tuple[float, float]], rng: np.random.Generator):
    """Screw heads: a metallic disc with a darker slot, or a plain painted-over cap."""
    r = canvas.mm(rng.uniform(3.5, 5.5))[0]
    base = _jitter(rng, (150, 150, 150), 30)
    for cx, cy in centres_mm:
        c = tuple(int(round(v)) for v in canvas.mm(cx, cy))
        cv2.circle(canvas.image, c, int(round(r)), base, -1, cv2.LINE_AA)
        cv2.circle(canvas.image, c, int(round(r)), tuple(v * 0.6 for v in base), 1, cv2.LINE_AA)
        if rng.random() < 0.6:
            d = int(round(r * 0.7))
            cv2.line(canvas.image, (c[0] - d, c[1]), (c[0] + d, c[1]), (60, 60, 60), 1, cv2.LINE_AA)


def face_glyph(
    ch: str, font: str, weight: int, widen: float, stem: float | None
) -> tuple[Glyph, float]:
    """The glyph to draw a character with and the widening still to apply to it: with
    ``stem``, a glyph drawn wide with light strokes (``wide_light_glyph``)."""
    if stem is None:
        return glyph(ch, font, weight), widen
    return wide_light_glyph(ch, font, round(widen, 2), round(stem, 2)), 1.0


def layout_text(
    printed: str,
    font: str,
    weight: int,
    height: float,
    cell: float | None,
    gap: float,
    separators: dict[str, float],
    widen: float = 1.0,
    stem: float | None = None,
) -> list[tuple[str, float, float]]:
    """Left edge and width of every character and separator, from 0, before fitting.

    ``cell`` fixes the width of every character (fixed-pitch plate faces); otherwise each
    takes its own width at ``height``, times ``widen``.
    """
    items, x = [], 0.0
    for ch in printed:
        if ch in SEPARATORS:
            w = separators.get(ch, 0.3 * height)
        elif cell is not None:
            w = cell
        else:
            g, more = face_glyph(ch, font, weight, widen, stem)
            w = g.aspect * height * more
        items.append((ch, x, w))
        x += w + gap
    return items


def draw_text(
    canvas: Canvas,
    printed: str,
    box: Box,
    font: str,
    weight: int,
    *,
    cell: float | None = None,
    gap: float = 0.0,
    separators: dict[str, float] | None = None,
    align: str = "center",
    rng: np.random.Generator | None = None,
    widen: float = 1.0,
    stem: float | None = None,
) -> list[tuple[str, float, float]]:
    """Draw a plate number into the ink layer, filling the box's height; returns each
    character's and separator's left edge and width in pixels, for what is drawn between them.

    A line wider than the box is squeezed horizontally, the way plate faces are condensed for
    long numbers; ``widen`` > 1 draws the glyphs wider than the font's own, as faces made for
    short numbers are (the Dutch Kenteken), their strokes ``stem`` of the character height
    thick where given (else widened with them). ``rng`` adds the sub-millimetre misalignment of
    stamped characters.
    """
    x, y, w, h = box
    items = layout_text(printed, font, weight, h, cell, gap, separators or {}, widen, stem)
    total = items[-1][1] + items[-1][2]
    squeeze = min(1.0, w / total)
    x0 = x + {"center": (w - total * squeeze) / 2, "left": 0.0}[align]
    placed = []
    for ch, cx, cw in items:
        left, width = x0 + cx * squeeze, cw * squeeze
        placed.append((ch, left, width))
        dy = rng.normal(0, h * 0.006) if rng is not None else 0.0
        if ch == "-":
            t = h * 0.12
            canvas.ink[
                int(y + h / 2 - t / 2) : int(y + h / 2 + t / 2), int(left) : int(left + width)
            ] = 1
        elif ch == "·":
            r = h * 0.055
            cv2.circle(
                canvas.ink, (int(left + width / 2), int(y + h / 2)), int(r), 1.0, -1, cv2.LINE_AA
            )
        elif ch != " ":
            g, more = face_glyph(ch, font, weight, widen, stem)
            draw_glyph(canvas.ink, g, (left, y + dy, width, h), (1.0,), more)
    return placed


def apply_ink(canvas: Canvas, color: Color, emboss: float, rng: np.random.Generator) -> None:
    """Paint the characters and, for stamped plates, their lit top-left and shaded bottom-right
    edges: at low resolution this relief is a large part of how real characters look."""
    ink = canvas.ink[..., 0]
    if emboss > 0:
        d = max(1, int(round(canvas.px_per_mm * rng.uniform(0.8, 1.6))))
        shift = np.roll(np.roll(ink, d, 0), d, 1)
        shadow = np.clip(shift - ink, 0, 1)[..., None]
        light = np.clip(np.roll(np.roll(ink, -d, 0), -d, 1) - ink, 0, 1)[..., None]
        canvas.image *= 1 - emboss * 0.45 * shadow
        canvas.image += emboss * 0.25 * light * (255 - canvas.image)
    fill(canvas, ink, color)


def weathered(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Uneven reflectance and grain: a plate is never a flat colour, and dirt is low-frequency."""
    w, h = canvas.size
    low = rng.normal(0, 1, (3, 6)).astype(np.float32)
    shade = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    img = canvas.image * (1 + rng.uniform(0.02, 0.09) * shade)[..., None]
    img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(1, 4)
    for _ in range(rng.poisson(1.5)):
        c = (int(rng.integers(w)), int(rng.integers(h)))
        r = int(rng.integers(1, 2 + w // 150))
        cv2.circle(img, c, r, _jitter(rng, (70, 85, 95), 20), -1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def finish(
    canvas: Canvas,
    printed: str,
    region: str,
    style: str,
    rng: np.random.Generator,
    corner_mm: float = 6.0,
) -> Plate:
    w, h = canvas.size
    alpha = rounded_rect_mask((w, h), (0, 0, w, h), canvas.mm(corner_mm)[0])
    return Plate(weathered(canvas, rng), alpha, normalize_text(printed), printed, region, style)


# ---------------------------------------------------------------- China


def render_cn_blue(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """GA 36-2018 small-car plate: 440x140 mm, 45x90 mm cells 12 mm apart, 34 mm around the dot."""
    printed = chinese_blue_text(rng)
    c = new_canvas("cn_blue", px_per_mm, _jitter(rng, (190, 75, 10), 18))
    draw_rim(c, 2.5, rng.uniform(1.5, 3.0), 8, _jitter(rng, WHITE, 8))
    _draw_chinese(c, printed, 15.5, 45, 12, rng)
    if rng.random() < 0.6:
        draw_bolts(c, [(106, 15), (334, 15)], rng)
    apply_ink(c, _jitter(rng, (245, 245, 245), 6), rng.uniform(0, 0.8), rng)
    return finish(c, printed, "CN", "cn_blue", rng)


def render_cn_green(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """New-energy plate: 480x140 mm, white-to-green gradient, black text, 43 mm cells 9 mm apart."""
    printed = chinese_green_text(rng)
    c = new_canvas("cn_green", px_per_mm, WHITE)
    top = _jitter(rng, (225, 245, 225), 8)
    bottom = _jitter(rng, (110, 200, 70), 15)
    vertical_gradient(c, 0, c.size[1], top, bottom)
    draw_rim(c, 2.0, rng.uniform(1.0, 2.0), 8, _jitter(rng, (60, 70, 60), 10))
    _draw_chinese(c, printed, 16.5, 43, 9, rng, dot_gap=31)
    if rng.random() < 0.5:
        draw_bolts(c, [(131, 12), (131, 128), (370, 12), (370, 128)], rng)
    apply_ink(c, _jitter(rng, (20, 20, 20), 6), rng.uniform(0, 0.6), rng)
    return finish(c, printed, "CN", "cn_green", rng)


def _draw_chinese(
    c: Canvas,
    printed: str,
    left: float,
    cell: float,
    gap: float,
    rng: np.random.Generator,
    dot_gap: float | None = None,
) -> None:
    """The province in the CJK face, the rest in a sans or DIN face stretched to the tall cells."""
    x, y, h = c.mm(left, 25, 90)
    cell_px, gap_px = c.mm(cell, gap)
    province_box = (x, y, cell_px, h)
    draw_glyph(c.ink, glyph(printed[0], "cjk", int(rng.integers(0, 2))), province_box, (1.0,))
    rest = (x + cell_px + gap_px, y, c.size[0] - x - (x + cell_px + gap_px), h)
    sep = {"·": c.mm(dot_gap if dot_gap is not None else 34 - 2 * gap)[0]}
    font, weight = ("din", int(rng.integers(2, 5))) if rng.random() < 0.5 else ("sans", 0)
    draw_text(
        c,
        printed[1:],
        rest,
        font,
        weight,
        cell=cell_px,
        gap=gap_px,
        separators=sep,
        align="left",
        rng=rng,
    )


# ---------------------------------------------------------------- Europe


def _draw_eu_band(c: Canvas, country: str, band_mm: float, rng: np.random.Generator) -> None:
    """The blue strip with the ring of 12 yellow stars and the country code."""
    w, h = c.size
    bw = c.mm(band_mm)[0]
    c.image[:, : int(bw)] = _jitter(rng, EU_BLUE, 12)
    cx, cy, ring, star = bw / 2, h * 0.3, bw * 0.3, max(1.0, bw * 0.06)
    yellow = _jitter(rng, EU_YELLOW, 10)
    for k in range(12):
        a = 2 * np.pi * k / 12
        sx, sy = cx + ring * np.cos(a), cy + ring * np.sin(a)
        pts = [
            (
                sx + star * (1 if j % 2 == 0 else 0.45) * np.sin(j * np.pi / 5),
                sy - star * (1 if j % 2 == 0 else 0.45) * np.cos(j * np.pi / 5),
            )
            for j in range(10)
        ]
        cv2.fillPoly(
            c.image, [np.round(np.array(pts) * 4).astype(np.int32)], yellow, cv2.LINE_AA, 2
        )
    draw_line(c.image, country, "sans", (bw * 0.12, h * 0.62, bw * 0.76, h * 0.24), WHITE, 2)


EU_COUNTRIES = {  # kind, background, text colour, code in the band
    "nl_yellow": ("nl", EU_YELLOW, BLACK, "NL"),
    "nl_white": ("nl", WHITE, BLACK, "NL"),
    "fr": ("fr", WHITE, BLACK, "F"),
    "be": ("be", WHITE, (40, 20, 170), "B"),
    "es": ("es", WHITE, BLACK, "E"),
    "it": ("it", WHITE, BLACK, "I"),
    "de": ("de", WHITE, BLACK, "D"),
    "at": ("at", WHITE, BLACK, "A"),
}
#: kinds whose district code is followed by seals or a coat of arms, in a wider gap
EMBLEM_KINDS = ("de", "at")


def render_eu(
    rng: np.random.Generator, px_per_mm: float = 1.0, variant: str | None = None
) -> Plate:
    """520x110 mm EU plate in a DIN-like face; Dutch yellow plates are the most common kind."""
    names = list(EU_COUNTRIES)
    # the emblem kinds are drawn more than their traffic share: the gap after the district code
    # is where a reader loses count (synthetic Austrian plates read 57 %, Dutch ones 93 %)
    if variant is None:
        variant = names[rng.choice(len(names), p=[0.26, 0.08, 0.09, 0.09, 0.09, 0.07, 0.14, 0.18])]
    kind, bg, ink, code = EU_COUNTRIES[variant]
    printed = austrian_text(rng) if kind == "at" else formatted_text(kind, rng)
    c = new_canvas("eu", px_per_mm, _jitter(rng, bg, 10))
    band = rng.uniform(40, 48)
    _draw_eu_band(c, code, band, rng)
    draw_rim(c, 1.5, rng.uniform(1.0, 2.5), 5, _jitter(rng, ink, 10))
    font = "din" if rng.random() < 0.8 else "sans"
    weight = int(rng.integers(2, 6)) if font == "din" else int(rng.integers(0, 2))
    gap, dash = rng.uniform(3, 7), 22.0
    widen, stem = 1.0, None
    if kind in ("nl", "be"):  # the Kenteken face, and Belgium's ruby-red one much like it:
        # DIN-like but wider, light strokes, short dashes
        font, weight = "din", int(rng.integers(0, 3))
        gap, dash, widen = rng.uniform(4, 10), rng.uniform(13, 22), rng.uniform(1.1, 1.45)
        if rng.random() < 0.7:  # as printed; the rest drawn bolder, as blur and ink spread it
            gap, widen, stem = rng.uniform(6, 12), rng.uniform(1.15, 1.5), rng.uniform(0.08, 0.12)
    elif kind in EMBLEM_KINDS and rng.random() < 0.5:  # FE-Schrift and the Austrian face as
        # seen on the road: wider than the DIN, light strokes, the line filling the plate
        gap, widen, stem = rng.uniform(4, 9), rng.uniform(1.1, 1.35), rng.uniform(0.09, 0.13)
    space = rng.uniform(38, 46) if kind in EMBLEM_KINDS else 26.0
    if kind == "at":  # the red-white-red bands along the top and bottom edges
        for y0, y1 in ((0, rng.uniform(5, 8)), (110 - rng.uniform(5, 8), 110)):
            c.image[int(c.mm(y0)[0]) : int(c.mm(y1)[0]), int(c.mm(band)[0]) :] = _jitter(
                rng, (40, 30, 200), 15
            )
    box = c.mm(band + 10, 17, 520 - band - 20, 76)
    placed = draw_text(
        c,
        printed,
        box,
        font,
        weight,
        gap=c.mm(gap)[0],
        separators={"-": c.mm(dash)[0], " ": c.mm(space)[0]},
        rng=rng,
        widen=widen,
        stem=stem,
    )
    apply_ink(c, _jitter(rng, ink, 8), rng.uniform(0.2, 1.0), rng)
    if kind in EMBLEM_KINDS:
        gap = next(p for p in placed if p[0] == " ")
        (_draw_german_seals if kind == "de" else _draw_coat_of_arms)(c, gap, rng)
    return finish(c, printed, "EU", f"eu_{variant}", rng, corner_mm=5)


#: colours of the German inspection (HU) sticker, one per year of a six-year cycle (BGR)
HU_COLOURS: tuple[Color, ...] = (
    (60, 140, 240), (150, 80, 200), (80, 170, 60), (40, 200, 240), (70, 90, 150), (190, 120, 40),
)  # fmt: skip


def _draw_german_seals(c: Canvas, gap: tuple[str, float, float], rng: np.random.Generator) -> None:
    """The round inspection sticker over the state's seal, in the gap after the district code:
    a reader that has not seen them reads them as an O, a 0 or an extra letter."""
    _, left, width = gap
    cx = left + width / 2
    r = float(np.clip(width / 2, *c.mm(16, 20))) * rng.uniform(0.9, 1.0)
    top = (int(round(cx)), int(round(c.mm(33)[0])))
    bottom = (int(round(cx)), int(round(c.mm(76)[0])))
    hu = _jitter(rng, HU_COLOURS[rng.integers(len(HU_COLOURS))], 15)
    cv2.circle(c.image, top, int(r * 0.9), hu, -1, cv2.LINE_AA)
    for k in range(12):  # the sticker's clock face: month ticks, a darker sector
        a = 2 * np.pi * k / 12
        end = (int(top[0] + r * 0.8 * np.sin(a)), int(top[1] - r * 0.8 * np.cos(a)))
        cv2.line(c.image, top, end, tuple(v * 0.55 for v in hu), 1, cv2.LINE_AA)
    cv2.circle(c.image, bottom, int(r), _jitter(rng, (225, 225, 225), 12), -1, cv2.LINE_AA)
    cv2.circle(c.image, bottom, int(r), (90, 90, 90), 1, cv2.LINE_AA)
    shield = _jitter(rng, [(40, 40, 190), (150, 60, 20), (40, 120, 40)][rng.integers(3)], 20)
    s = int(r * 0.45)
    cv2.rectangle(
        c.image, (bottom[0] - s, bottom[1] - s), (bottom[0] + s, bottom[1] + s), shield, -1
    )


def _draw_coat_of_arms(c: Canvas, gap: tuple[str, float, float], rng: np.random.Generator) -> None:
    """The Austrian state's shield after the district code: a tall shape in two colours."""
    _, left, width = gap
    w = min(width * 0.8, c.mm(30)[0])
    x0, y0, h = left + (width - w) / 2, c.mm(25)[0], c.mm(rng.uniform(45, 60))[0]
    colours = [(40, 30, 200), (240, 240, 240), (30, 140, 30), (20, 160, 230), (30, 30, 30)]
    first, second = rng.choice(len(colours), 2, replace=False)
    shield = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h * 0.6], [x0 + w / 2, y0 + h],
                       [x0, y0 + h * 0.6]])  # fmt: skip
    cv2.fillPoly(c.image, [np.int32(shield)], _jitter(rng, colours[first], 15), cv2.LINE_AA)
    inner = (shield - shield.mean(0)) * 0.55 + shield.mean(0)
    cv2.fillPoly(c.image, [np.int32(inner)], _jitter(rng, colours[second], 15), cv2.LINE_AA)


# ---------------------------------------------------------------- United States

US_STATES = {  # name: text colour, state-name colour, top and bottom background
    "CALIFORNIA": ((110, 40, 20), (40, 30, 170), WHITE, WHITE),
    "TEXAS": (BLACK, BLACK, WHITE, (215, 225, 235)),
    "NEW YORK": ((90, 40, 20), (90, 40, 20), (70, 150, 235), WHITE),
    "FLORIDA": ((60, 90, 20), (60, 90, 20), WHITE, WHITE),
    "ILLINOIS": ((40, 30, 150), (110, 60, 20), WHITE, (225, 215, 200)),
    "OHIO": ((80, 50, 20), (60, 40, 140), (235, 215, 190), WHITE),
    "ARIZONA": ((100, 50, 20), (90, 50, 40), (80, 130, 220), (235, 235, 240)),
    "NEVADA": ((110, 50, 10), (110, 50, 10), (230, 200, 160), (200, 220, 245)),
    "MARYLAND": (BLACK, BLACK, WHITE, WHITE),
    "VERMONT": (WHITE, WHITE, (50, 100, 20), (50, 100, 20)),
    "GEORGIA": (BLACK, (30, 60, 130), WHITE, (200, 225, 240)),
    "WASHINGTON": ((100, 40, 20), (100, 40, 20), (240, 225, 215), WHITE),
    "NEW JERSEY": (BLACK, BLACK, (150, 230, 245), (200, 235, 245)),
    "COLORADO": (WHITE, WHITE, (60, 100, 30), (60, 100, 30)),
    "PENNSYLVANIA": ((90, 40, 20), (240, 240, 240), (120, 60, 20), WHITE),
    "MICHIGAN": ((40, 30, 30), (40, 30, 30), WHITE, WHITE),
    "MAINE": (BLACK, BLACK, (235, 245, 245), WHITE),
    "IOWA": ((130, 50, 20), (120, 40, 20), (245, 225, 190), WHITE),
    "ALASKA": ((90, 40, 20), (90, 40, 20), (40, 200, 240), (40, 200, 240)),
    "UTAH": ((60, 40, 140), (60, 40, 140), (200, 220, 240), (120, 170, 230)),
}
US_SLOGANS = (
    "",
    "",
    "Sunshine State",
    "Land of Lincoln",
    "Empire State",
    "Lone Star State",
    "Garden State",
    "Green Mountain State",
    "Vacationland",
    "Grand Canyon State",
    "Peach State",
    "Evergreen State",
    "The Great Lakes State",
    "dmv.gov",
)


def us_number_face(rng: np.random.Generator) -> tuple[str, int]:
    """A type face and stroke weight for a US plate number: bold sans most often, then DIN
    (drawn bolder, as plate faces are), monospace and the thin book sans."""
    font = ["sans", "din", "mono", "sans-book"][rng.choice(4, p=[0.4, 0.25, 0.15, 0.2])]
    return font, {"din": 3}.get(font, 0) + int(rng.integers(0, 2))


def render_us(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """12x6 inch plate: a state's colours, its name on top, a slogan, registration stickers,
    and on some a picture between the characters or a seal or pictogram beside them.

    States use many type faces, from thin (Washington) to tall condensed (Utah) to wide, so the
    number's weight and width vary widely.
    """
    printed = us_text(rng)
    state = list(US_STATES)[rng.integers(len(US_STATES))]
    text_color, name_color, top, bottom = (_jitter(rng, v, 10) for v in US_STATES[state])
    c = new_canvas("us", px_per_mm, top)
    vertical_gradient(c, 0, c.size[1], top, bottom)
    if rng.random() < 0.55:
        _draw_scenery(c, rng)
    if rng.random() < 0.5:
        draw_rim(c, 2, rng.uniform(1, 3), 8, name_color)
    draw_line(
        c.image,
        state,
        ["serif", "sans", "din"][rng.integers(3)],
        c.mm(40, rng.uniform(8, 14), 225, rng.uniform(15, 22)),
        name_color,
        1,
    )
    slogan = US_SLOGANS[rng.integers(len(US_SLOGANS))]
    if slogan:
        draw_line(c.image, slogan, "serif", c.mm(50, 131, 205, 12), name_color)
    for x in (8, 262):
        if rng.random() < 0.5:
            _draw_sticker(c, x, 10, rng)
    emblem = " " not in printed and len(printed) >= 4 and rng.random() < 0.3
    if emblem:  # a picture between the characters: 4 [horse] 434R, LJK [sun] 920, Y6B [fruit] YG
        cut = int(rng.integers(1, len(printed)))
        printed = printed[:cut] + " " + printed[cut:]
    tag = rng.random() < 0.2
    badge = "" if tag else ["", "left", "right"][rng.choice(3, p=[0.8, 0.12, 0.08])]
    font, weight = us_number_face(rng)
    height = rng.uniform(62, 75)
    left = rng.uniform(32, 40) if tag else rng.uniform(70, 90) if badge == "left" else 16
    right = rng.uniform(220, 240) if badge == "right" else 289
    placed = draw_text(
        c,
        printed,
        c.mm(left, 42 + (75 - height) / 2, right - left, height),
        font,
        weight,
        gap=c.mm(rng.uniform(2, 6))[0],
        separators={" ": c.mm(rng.uniform(40, 60) if emblem else 14)[0], "-": c.mm(16)[0]},
        rng=rng,
        widen=float(np.exp(rng.uniform(np.log(0.7), np.log(1.3)))),
    )
    apply_ink(c, text_color, rng.uniform(0.3, 1.0), rng)
    if emblem:
        _draw_us_emblem(c, next(p for p in placed if p[0] == " "), rng)
    if tag:
        _draw_side_tag(c, placed[0][1], name_color, rng)
    if badge:  # in the margin the number leaves, 4 mm clear of it, 6 mm (left) or 11 mm
        # (right) from the plate's 305 mm edge
        _draw_side_badge(
            c,
            6 if badge == "left" else right + 4,
            (left if badge == "left" else 300 - right) - 10,
            rng,
        )
    return finish(c, printed, "US", "us", rng, corner_mm=10)


def _draw_us_emblem(c: Canvas, gap: tuple[str, float, float], rng: np.random.Generator) -> None:
    """A state's picture in a gap of the number: a sun with rays, a fruit with a leaf, a
    silhouette or a badge. The reader must read across it, not read it as a character."""
    _, left, width = gap
    w, h = c.size
    cx, cy = left + width / 2, h * rng.uniform(0.5, 0.6)
    r = min(width * 0.45, h * rng.uniform(0.22, 0.36))
    color = _jitter(
        rng, [(30, 30, 200), (20, 140, 240), (30, 120, 30), (120, 60, 20)][rng.integers(4)], 20
    )
    kind = rng.integers(4)
    if kind == 0:  # a sun with rays all round (New Mexico's Zia)
        cv2.circle(c.image, (int(cx), int(cy)), int(r * 0.45), color, -1, cv2.LINE_AA)
        for a in np.linspace(0, 2 * np.pi, 16, endpoint=False):
            p0 = (int(cx + np.cos(a) * r * 0.55), int(cy + np.sin(a) * r * 0.55))
            p1 = (int(cx + np.cos(a) * r), int(cy + np.sin(a) * r))
            cv2.line(c.image, p0, p1, color, max(1, int(r * 0.08)), cv2.LINE_AA)
    elif kind == 1:  # a fruit with a leaf
        cv2.circle(c.image, (int(cx), int(cy)), int(r * 0.8), _jitter(rng, (20, 140, 240), 20), -1)
        cv2.ellipse(c.image, (int(cx + r * 0.3), int(cy - r * 0.8)), (int(r * 0.4), int(r * 0.2)),
                    -30, 0, 360, _jitter(rng, (30, 120, 30), 20), -1, cv2.LINE_AA)  # fmt: skip
    elif kind == 2:  # a silhouette: a random blob taller than wide, like a rider or an animal
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radii = r * rng.uniform(0.5, 1.1, 9)
        pts = np.column_stack([cx + np.cos(angles) * radii * 0.7, cy + np.sin(angles) * radii])
        cv2.fillPoly(c.image, [np.int32(pts)], _jitter(rng, (30, 30, 30), 20), cv2.LINE_AA)
    else:  # a square badge with a white pictogram
        s = int(r * 0.8)
        cv2.rectangle(c.image, (int(cx) - s, int(cy) - s), (int(cx) + s, int(cy) + s), color, -1)
        cv2.circle(c.image, (int(cx), int(cy + s * 0.2)), int(s * 0.5), (240, 240, 240), 2)
        cv2.circle(
            c.image, (int(cx), int(cy - s * 0.6)), max(1, int(s * 0.15)), (240, 240, 240), -1
        )


def _draw_side_badge(c: Canvas, x_mm: float, width_mm: float, rng: np.random.Generator) -> None:
    """A special plate's picture beside the number, not between its characters: a round seal
    (veterans, firefighters) or an accessibility pictogram. Real crops with a seal on the left
    were read as the first character alone, the seal taken for the plate's end."""
    w = c.mm(width_mm)[0]
    cx, cy = c.mm(x_mm)[0] + w / 2, c.size[1] * rng.uniform(0.45, 0.58)
    r = min(w / 2, c.size[1] * rng.uniform(0.22, 0.32))
    palette = [(40, 40, 40), (30, 30, 160), (140, 60, 20), (30, 110, 30)]
    color = _jitter(rng, palette[rng.integers(4)], 20)

    def at(dx: float, dy: float) -> tuple[int, int]:  # a point in radii from the centre
        return int(cx + dx * r), int(cy + dy * r)

    if rng.random() < 0.6:  # a seal: a ring of small marks round a filled disc and a star
        cv2.circle(c.image, at(0, 0), int(r), color, max(1, int(r) // 10), cv2.LINE_AA)
        for a in np.linspace(0, 2 * np.pi, 20, endpoint=False):
            cv2.circle(c.image, at(0.82 * np.cos(a), 0.82 * np.sin(a)), max(1, int(r) // 14),
                       color, -1, cv2.LINE_AA)  # fmt: skip
        cv2.circle(c.image, at(0, 0), int(r * 0.6), _jitter(rng, (60, 160, 220), 40), -1)
        angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 10, endpoint=False)
        radii = np.where(np.arange(10) % 2 == 0, 0.45, 0.2)
        star = [at(k * np.cos(a), k * np.sin(a)) for k, a in zip(radii, angles)]
        cv2.fillPoly(c.image, [np.int32(star)], color, cv2.LINE_AA)
    else:  # a wheelchair pictogram: head, back, seat, leg and wheel
        stroke = max(2, int(r) // 8)
        cv2.circle(c.image, at(-0.1, -0.75), int(r * 0.15), color, -1, cv2.LINE_AA)
        for p0, p1 in (((-0.1, -0.5), (-0.1, 0)), ((-0.1, 0), (0.5, 0)), ((0.5, 0), (0.7, 0.5))):
            cv2.line(c.image, at(*p0), at(*p1), color, stroke, cv2.LINE_AA)
        axes = (int(r * 0.5), int(r * 0.5))
        cv2.ellipse(c.image, at(-0.1, 0.2), axes, 0, 30, 330, color, stroke, cv2.LINE_AA)


def _draw_side_tag(c: Canvas, text_left: float, color: Color, rng: np.random.Generator) -> None:
    """Small stacked letters left of the number (TRK, MC, DV) that are not part of it."""
    letters = ["TRK", "MC", "DV", "CMB", "TL", "PC"][rng.integers(6)]
    x0, w = c.mm(6)[0], max(4.0, text_left - c.mm(9)[0])
    h = c.mm(rng.uniform(11, 15))[0]
    y = c.mm(48)[0]
    for ch in letters:
        draw_line(c.image, ch, "sans", (x0, y, w, h), color)
        y += h * 1.2


def _draw_scenery(c: Canvas, rng: np.random.Generator) -> None:
    """Faded pictures behind the number (hills, a sun, waves), as on many US plates: the
    recognizer must learn to ignore busy backgrounds."""
    w, h = c.size
    layer = c.image.copy()
    for _ in range(int(rng.integers(1, 4))):
        color = tuple(float(v) for v in rng.integers(60, 255, 3))
        kind = rng.integers(3)
        if kind == 0:  # a hill rising from the bottom edge
            centre = (int(rng.uniform(0, w)), int(h * rng.uniform(0.8, 1.3)))
            axes = (int(w * rng.uniform(0.3, 0.8)), int(h * rng.uniform(0.3, 0.7)))
            cv2.ellipse(layer, centre, axes, 0, 0, 360, color, -1, cv2.LINE_AA)
        elif kind == 1:  # a sun or an emblem
            centre = (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.3, 0.7) * h))
            cv2.circle(layer, centre, int(h * rng.uniform(0.15, 0.35)), color, -1, cv2.LINE_AA)
        else:  # a wave across the lower half
            xs = np.linspace(0, w, 24)
            ys = h * rng.uniform(0.55, 0.85) + h * rng.uniform(0.03, 0.1) * np.sin(
                xs / w * rng.uniform(3, 9) + rng.uniform(0, 2 * np.pi)
            )
            pts = np.vstack([np.column_stack([xs, ys]), [[w, h], [0, h]]])
            cv2.fillPoly(layer, [pts.astype(np.int32)], color, cv2.LINE_AA)
    a = rng.uniform(0.25, 0.6)
    c.image[:] = c.image * (1 - a) + layer * a


def _draw_sticker(c: Canvas, x_mm: float, y_mm: float, rng: np.random.Generator) -> None:
    x, y, w, h = (int(round(v)) for v in c.mm(x_mm, y_mm, 35, 22))
    color = tuple(float(v) for v in rng.integers(0, 256, 3))
    cv2.rectangle(c.image, (x, y), (x + w, y + h), color, -1)
    ink = (20, 20, 20) if sum(color) > 380 else (240, 240, 240)
    draw_line(
        c.image,
        f"{rng.integers(1, 13)}  {rng.integers(10, 30)}",
        "sans",
        (x + w * 0.1, y + h * 0.25, w * 0.8, h * 0.5),
        ink,
    )


# ---------------------------------------------------------------- South America

BR_CITIES = (
    "SP-SAO PAULO",
    "PR-CURITIBA",
    "RJ-RIO DE JANEIRO",
    "MG-BELO HORIZONTE",
    "RS-PORTO ALEGRE",
    "SC-FLORIANOPOLIS",
    "BA-SALVADOR",
    "GO-GOIANIA",
    "SP-CAMPINAS",
)


def render_br_grey(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """Pre-2018 Brazilian plate: grey (red for commercial vehicles), city name on top, ABC-1234."""
    commercial = rng.random() < 0.15
    bg = (40, 40, 175) if commercial else (165, 168, 175)
    ink = WHITE if commercial else BLACK
    printed = formatted_text("br_grey", rng)
    c = new_canvas("br_grey", px_per_mm, _jitter(rng, bg, 12))
    draw_rim(c, 2, rng.uniform(2, 3.5), 6, _jitter(rng, ink, 10))
    city = BR_CITIES[rng.integers(len(BR_CITIES))]
    draw_line(c.image, city, "sans", c.mm(60, 9, 280, 12), ink, 1)
    font = "din" if rng.random() < 0.7 else "sans"
    weight = int(rng.integers(2, 5)) if font == "din" else 0
    draw_text(
        c,
        printed,
        c.mm(14, 34, 372, 72),
        font,
        weight,
        cell=c.mm(44)[0],
        gap=c.mm(6)[0],
        separators={"-": c.mm(14)[0]},
        rng=rng,
    )
    apply_ink(c, _jitter(rng, ink, 8), rng.uniform(0.4, 1.0), rng)
    return finish(c, printed, "BR", "br_grey", rng)


def _draw_mercosur_band(c: Canvas, country: str, rng: np.random.Generator) -> None:
    """Blue top band with the country name, the Mercosur emblem left and a flag right."""
    w, _ = c.size
    band = int(round(c.mm(rng.uniform(26, 30))[0]))
    top, bottom = _jitter(rng, (170, 70, 10), 12), _jitter(rng, (130, 40, 0), 12)
    vertical_gradient(c, 0, band, top, bottom)
    draw_line(c.image, country, "sans", (w * 0.25, band * 0.22, w * 0.5, band * 0.56), WHITE, 2)
    ex, ey, r = c.mm(18)[0], band / 2, band * 0.3
    cv2.circle(c.image, (int(ex), int(ey)), int(r), WHITE, max(1, int(r / 4)), cv2.LINE_AA)
    fx = int(w - c.mm(30)[0])
    flag = (60, 150, 0) if country == "BRASIL" else (235, 190, 110)
    cv2.rectangle(
        c.image, (fx, int(band * 0.2)), (fx + int(c.mm(18)[0]), int(band * 0.8)), flag, -1
    )


def render_mercosur(rng: np.random.Generator, px_per_mm: float = 1.0, country: str = "BR") -> Plate:
    """2018+ Mercosur plate: white, blue band, black FE-like face; ABC1D23 (BR), AB 123 CD (AR)."""
    printed = formatted_text("br_mercosur" if country == "BR" else "ar_mercosur", rng)
    c = new_canvas(f"{country.lower()}_mercosur", px_per_mm, _jitter(rng, (242, 242, 240), 6))
    _draw_mercosur_band(c, "BRASIL" if country == "BR" else "REPUBLICA ARGENTINA", rng)
    draw_rim(c, 1, rng.uniform(1.0, 2.0), 6, _jitter(rng, BLACK, 10))
    _draw_qr_patch(c, rng)
    font = "din" if rng.random() < 0.85 else "sans"
    weight = int(rng.integers(2, 5)) if font == "din" else 0
    draw_text(
        c,
        printed,
        c.mm(26, 42, 362, 74),
        font,
        weight,
        gap=c.mm(rng.uniform(3, 6))[0],
        separators={" ": c.mm(20)[0]},
        rng=rng,
    )
    apply_ink(c, _jitter(rng, BLACK, 8), rng.uniform(0.3, 1.0), rng)
    return finish(c, printed, country, f"{country.lower()}_mercosur", rng)


def _draw_qr_patch(c: Canvas, rng: np.random.Generator) -> None:
    """The small QR code at the left edge under the band; its content does not matter."""
    x, y, s = c.mm(5, 36, 14)
    cells = (rng.random((7, 7)) < 0.5).astype(np.float32) * 200 + 30
    patch = cv2.resize(cells, (int(s), int(s)), interpolation=cv2.INTER_NEAREST)
    c.image[int(y) : int(y) + patch.shape[0], int(x) : int(x) + patch.shape[1]] = patch[..., None]


def render_ar_old(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """1995-2016 Argentine plate: black, white rim and letters, 'REPUBLICA ARGENTINA' on top.

    Photographed, most sit in a light plastic holder that hides the top line, and their face is
    tall and condensed, raised, with the paint often worn from the middle of the strokes; read
    in a bold face only, the recognizer took their D for O and N for M.
    """
    printed = formatted_text("ar_old", rng)
    if rng.random() < 0.3:
        printed = printed.replace(" ", "-" if rng.random() < 0.5 else "·")
    c = new_canvas("ar_old", px_per_mm, _jitter(rng, (25, 25, 25), 8))
    w_mm, h_mm = STYLE_SIZES_MM["ar_old"]
    if rng.random() < 0.6:
        left, top = rng.uniform(6, 16), rng.uniform(10, 22)
        window = (left, top, w_mm - 2 * left, h_mm - top - rng.uniform(10, 24))
        _draw_holder(c, window, rng)
        height = window[3] * rng.uniform(0.7, 0.85)
        box = (window[0] + 6, window[1] + (window[3] - height) / 2, window[2] - 12, height)
    else:
        draw_rim(c, 3, rng.uniform(2, 3.5), 8, _jitter(rng, WHITE, 10))
        draw_line(c.image, "REPUBLICA ARGENTINA", "sans", c.mm(60, 10, 174, 12), WHITE)
        box = (14, 32, 266, 76)
    font = "din" if rng.random() < 0.6 else "sans"
    weight = int(rng.integers(0, 5)) if font == "din" else 0
    draw_text(
        c,
        printed,
        c.mm(*box),
        font,
        weight,
        gap=c.mm(rng.uniform(3, 6))[0],
        separators={" ": c.mm(22)[0], "-": c.mm(16)[0], "·": c.mm(12)[0]},
        rng=rng,
        widen=rng.uniform(0.6, 1.0),
    )
    if rng.random() < 0.3:
        _wear_stroke_middles(c, rng)
    apply_ink(c, _jitter(rng, WHITE, 8), rng.uniform(0.4, 1.0), rng)
    return finish(c, printed, "AR", "ar_old", rng)


def _draw_holder(c: Canvas, window_mm: Box, rng: np.random.Generator) -> None:
    """A light plastic frame round the plate, leaving a black window, with two screws above and
    below: the frame is part of every crop of such a plate."""
    w, h = c.size
    hole = rounded_rect_mask((w, h), c.mm(*window_mm), c.mm(8)[0])
    fill(c, 1 - hole, _jitter(rng, (215, 215, 215), 35))
    x, y, ww, wh = window_mm
    draw_bolts(c, [(x + ww * 0.3, y / 2), (x + ww * 0.7, y / 2)], rng)
    bottom = (y + wh + STYLE_SIZES_MM["ar_old"][1]) / 2
    draw_bolts(c, [(x + ww * 0.3, bottom), (x + ww * 0.7, bottom)], rng)


def _wear_stroke_middles(c: Canvas, rng: np.random.Generator) -> None:
    """Paint worn off the middle of each stroke, leaving outlined characters."""
    ink = c.ink[..., 0]
    k = max(3, int(round(c.px_per_mm * rng.uniform(2.5, 4.5))) | 1)
    inner = cv2.erode(ink, np.ones((k, k), np.uint8))
    c.ink[..., 0] = ink - inner * rng.uniform(0.3, 0.7)


# ---------------------------------------------------------------- India and Indonesia


def render_in_car(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """Indian car plate (HSRP): white, yellow for commercial vehicles, black text, the blue
    hologram and IND at the left."""
    printed = indian_text(rng)
    c = new_canvas("in_car", px_per_mm, _jitter(rng, _indian_background(rng), 10))
    draw_rim(c, 2, rng.uniform(1.5, 3.0), 6, _jitter(rng, BLACK, 10))
    _draw_indian_mark(c, 6, 16, rng)
    draw_text(
        c,
        printed,
        c.mm(52, 24, 430, 72),
        "din" if rng.random() < 0.7 else "sans",
        int(rng.integers(2, 5)),
        gap=c.mm(rng.uniform(2, 5))[0],
        separators={" ": c.mm(rng.uniform(8, 16))[0]},
        rng=rng,
    )
    apply_ink(c, _jitter(rng, BLACK, 8), rng.uniform(0.3, 1.0), rng)
    return finish(c, printed, "IN", "in_car", rng, corner_mm=8)


def render_in_square(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """Two-row Indian plate of motorcycles and rear bumpers: state and district over the
    series and number."""
    printed = indian_text(rng)
    state, district, *rest = printed.split(" ")
    c = new_canvas("in_square", px_per_mm, _jitter(rng, _indian_background(rng), 10))
    draw_rim(c, 2, rng.uniform(1.5, 2.5), 6, _jitter(rng, BLACK, 10))
    _draw_indian_mark(c, 4, 6, rng, small=True)
    font, weight = ("din" if rng.random() < 0.7 else "sans"), int(rng.integers(2, 5))
    for row, box in (
        (f"{state} {district}", (30, 8, 150, 40)),
        (" ".join(rest), (10, 54, 180, 40)),
    ):
        draw_text(
            c, row, c.mm(*box), font, weight, gap=c.mm(3)[0], separators={" ": c.mm(10)[0]}, rng=rng
        )
    apply_ink(c, _jitter(rng, BLACK, 8), rng.uniform(0.3, 1.0), rng)
    return finish(c, printed, "IN", "in_square", rng, corner_mm=6)


def _indian_background(rng: np.random.Generator) -> Color:
    return EU_YELLOW if rng.random() < 0.25 else WHITE


def _draw_indian_mark(c: Canvas, x_mm: float, y_mm: float, rng: np.random.Generator, small=False):
    """The chromium hologram (a blue wheel) with IND under it."""
    size = 16 if small else 24
    x, y, r = c.mm(x_mm + size / 2, y_mm + size / 2, size / 2)
    blue = _jitter(rng, (170, 80, 20), 15)
    cv2.circle(c.image, (int(x), int(y)), int(r), blue, max(1, int(r / 5)), cv2.LINE_AA)
    draw_line(c.image, "IND", "sans", c.mm(x_mm, y_mm + size + 4, size + 8, size * 0.6), blue, 2)


def render_id_car(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """Indonesian car plate: white on black (black on white since 2022), the number over the
    month and year it is valid to; the small date row is not part of the plate's text."""
    return _render_indonesian(rng, px_per_mm, "id_car", (14, 14, 367, 78), (120, 100, 155, 24))


def render_id_moto(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """Indonesian motorcycle plate: the car plate's layout, smaller and squarer."""
    return _render_indonesian(rng, px_per_mm, "id_moto", (10, 10, 235, 60), (80, 78, 95, 19))


def _render_indonesian(
    rng: np.random.Generator, px_per_mm: float, style: str, number: Box, date: Box
) -> Plate:
    printed = formatted_text("id", rng)
    black = rng.random() < 0.7
    bg, ink = (BLACK, WHITE) if black else (WHITE, BLACK)
    c = new_canvas(style, px_per_mm, _jitter(rng, bg, 8))
    draw_rim(c, 2, rng.uniform(1.5, 3.0), 5, _jitter(rng, ink, 10))
    draw_text(
        c,
        printed,
        c.mm(*number),
        "din" if rng.random() < 0.7 else "sans",
        int(rng.integers(1, 4)),
        gap=c.mm(rng.uniform(3, 6))[0],
        separators={" ": c.mm(rng.uniform(14, 24))[0]},
        rng=rng,
    )
    ink = _jitter(rng, ink, 8)
    apply_ink(c, ink, rng.uniform(0.2, 0.9), rng)
    valid_to = f"{rng.integers(1, 13):02d}.{rng.integers(20, 31)}"
    draw_line(c.image, valid_to, "din", c.mm(*date), ink, 2)
    return finish(c, printed, "ID", style, rng, corner_mm=4)


# ---------------------------------------------------------------- United Kingdom, Hong Kong


def render_uk_front(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """British (and Hong Kong) front plate: black on white, no EU band."""
    return _render_uk_line(rng, px_per_mm, "uk_front", WHITE)


def render_uk_rear(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """British (and Hong Kong) rear plate: black on yellow with no EU band, the yellow plate the
    EU style alone would teach the detector to expect only beside a blue band."""
    return _render_uk_line(rng, px_per_mm, "uk_rear", EU_YELLOW)


def _render_uk_line(rng: np.random.Generator, px_per_mm: float, style: str, bg: Color) -> Plate:
    printed = formatted_text("uk", rng)
    c = new_canvas(style, px_per_mm, _jitter(rng, bg, 10))
    band = _draw_uk_flash(c, rng) if rng.random() < 0.35 else 0.0
    if rng.random() < 0.5:
        draw_rim(c, 1.5, rng.uniform(1.0, 2.5), 5, _jitter(rng, BLACK, 10))
    draw_text(
        c,
        printed,
        c.mm(band + 11, 16, 520 - band - 22, 79),
        "din",
        int(rng.integers(3, 6)),
        gap=c.mm(rng.uniform(8, 12))[0],
        separators={" ": c.mm(rng.uniform(28, 36))[0]},
        rng=rng,
        widen=rng.uniform(1.1, 1.3),  # the Charles Wright face: 50 mm wide, 79 mm tall
    )
    apply_ink(c, _jitter(rng, BLACK, 8), rng.uniform(0.0, 0.4), rng)
    return finish(c, printed, "UK", style, rng, corner_mm=rng.uniform(3, 8))


def render_uk_square(rng: np.random.Generator, px_per_mm: float = 1.0) -> Plate:
    """Two-row square plate of motorcycles and imported cars: the first group over the second,
    on yellow (rear) or white."""
    printed = formatted_text("uk", rng)
    top, bottom = printed.split(" ")
    bg = EU_YELLOW if rng.random() < 0.7 else WHITE
    c = new_canvas("uk_square", px_per_mm, _jitter(rng, bg, 10))
    if rng.random() < 0.5:
        draw_rim(c, 1.5, rng.uniform(1.0, 2.5), 5, _jitter(rng, BLACK, 10))
    weight = int(rng.integers(3, 6))
    for row, y in ((top, 16), (bottom, 108)):
        gap = c.mm(rng.uniform(8, 12))[0]
        draw_text(c, row, c.mm(12, y, 255, 79), "din", weight, gap=gap, rng=rng, widen=1.2)
    apply_ink(c, _jitter(rng, BLACK, 8), rng.uniform(0.0, 0.4), rng)
    return finish(c, printed, "UK", "uk_square", rng, corner_mm=rng.uniform(3, 8))


def _draw_uk_flash(c: Canvas, rng: np.random.Generator) -> float:
    """The optional band at the left: blue with UK (or GB), or the green of zero emission.
    Returns its width in millimetres."""
    width = rng.uniform(40, 50)
    green = rng.random() < 0.3
    c.image[:, : int(c.mm(width)[0])] = _jitter(rng, (80, 150, 30) if green else EU_BLUE, 12)
    if not green:
        _, h = c.size
        bw = c.mm(width)[0]
        code = "UK" if rng.random() < 0.7 else "GB"
        draw_line(c.image, code, "sans", (bw * 0.12, h * 0.55, bw * 0.76, h * 0.3), WHITE, 2)
    return width


# ---------------------------------------------------------------- choosing a style

STYLES: dict[str, Callable[..., Plate]] = {
    "cn_blue": render_cn_blue,
    "cn_green": render_cn_green,
    "eu": render_eu,
    "us": render_us,
    "br_grey": render_br_grey,
    "br_mercosur": lambda rng, px_per_mm=1.0: render_mercosur(rng, px_per_mm, "BR"),
    "ar_old": render_ar_old,
    "ar_mercosur": lambda rng, px_per_mm=1.0: render_mercosur(rng, px_per_mm, "AR"),
    "in_car": render_in_car,
    "in_square": render_in_square,
    "id_car": render_id_car,
    "id_moto": render_id_moto,
    "uk_front": render_uk_front,
    "uk_rear": render_uk_rear,
    "uk_square": render_uk_square,
}
#: region code -> its styles and their shares within the region
REGION_STYLES: dict[str, dict[str, float]] = {
    "CN": {"cn_blue": 0.8, "cn_green": 0.2},
    "EU": {"eu": 1.0},
    "US": {"us": 1.0},
    "BR": {"br_grey": 0.5, "br_mercosur": 0.5},
    "AR": {"ar_old": 0.5, "ar_mercosur": 0.5},
    "IN": {"in_car": 0.75, "in_square": 0.25},
    "ID": {"id_car": 0.7, "id_moto": 0.3},
    "UK": {"uk_front": 0.35, "uk_rear": 0.45, "uk_square": 0.2},
}
#: how often each region is drawn when none is asked for: the recognizer's weak spots get more
REGION_WEIGHTS = {
    "CN": 0.3,
    "EU": 0.25,
    "US": 0.18,
    "BR": 0.15,
    "AR": 0.12,
    "IN": 0.1,
    "ID": 0.08,
    "UK": 0.08,
}
REGIONS = tuple(REGION_STYLES)
#: the regions the recognizer is trained to read (their single-line styles): those with real crops
#: to check, and the British one, whose face is close to the EU's DIN
READ_REGIONS = ("CN", "EU", "US", "BR", "AR", "UK")
#: plates with their text in two rows: the recognizer reads one line, so these are only found
TWO_ROW_STYLES = ("in_square", "id_moto", "uk_square")


def smallest_plate_mm(regions: tuple[str, ...] | list[str] | None = None) -> float:
    """Width of the narrowest plate ``regions`` use: what a camera must resolve to read them all."""
    styles = [s for r in (regions or REGIONS) for s in REGION_STYLES[r]]
    return float(min(STYLE_SIZES_MM[s][0] for s in styles))


def choose_style(
    rng: np.random.Generator,
    regions: tuple[str, ...] | list[str] | None = None,
    one_row: bool = False,
) -> str:
    """A style of one of ``regions`` (all by default), weighted by ``REGION_WEIGHTS``;
    ``one_row``: never a two-row style (plates for the recognizer)."""
    regions = tuple(regions or REGIONS)
    unknown = set(regions) - set(REGION_STYLES)
    if unknown:
        raise ValueError(f"unknown regions {sorted(unknown)}; known: {', '.join(REGIONS)}")
    p = np.array([REGION_WEIGHTS[r] for r in regions])
    region = regions[rng.choice(len(regions), p=p / p.sum())]
    styles = {
        s: share
        for s, share in REGION_STYLES[region].items()
        if not (one_row and s in TWO_ROW_STYLES)
    }
    shares = np.array(list(styles.values()))
    return list(styles)[rng.choice(len(styles), p=shares / shares.sum())]


def render_plate(
    rng: np.random.Generator,
    regions: tuple[str, ...] | list[str] | None = None,
    style: str | None = None,
    px_per_mm: float = 1.0,
    one_row: bool = False,
) -> Plate:
    """A random plate of one of ``regions`` (or exactly ``style``), front-on, at ``px_per_mm``;
    ``one_row``: of a single-line style."""
    return STYLES[style or choose_style(rng, regions, one_row)](rng, px_per_mm)
