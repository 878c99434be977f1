"""Fonts and ink masks for drawing plate characters.

Fonts come from two places so that a fresh ``pip install .[train]`` can render every style:

- matplotlib (a dependency of filterpy and of the ``[train]`` extra) ships the DejaVu Sans,
  Sans Mono and Serif bold faces and the book-weight Sans (the thin strokes of many US plates);
  they are found through ``matplotlib.get_data_path()`` and not copied here.
- ``fonts/`` beside this file ships two SIL OFL fonts: OSP-DIN (a DIN 1451 revival, the family
  that the Dutch "Kenteken" and the German/Mercosur "FE-Schrift" plate faces descend from) and
  "Platestream Provinces", a 10 kB subset of Noto Sans CJK SC Bold holding only the 33 province
  characters of ``streamer.charset.PROVINCES``. A CJK font package from PyPI was ruled out: the
  only Noto Sans CJK wheel (``cvttf-notosanscjk-bold``) is a 28.6 MB download with no licence
  text of its own; and glyphs cut from real crops cannot be used on a machine without
  ``../shared/data``. ``fonts/README.md`` says how the subset was made; the ``LICENSE-*`` files
  beside it carry the licences.

Glyphs are rendered once at a large size and cached as ink masks; plates are then drawn by
resizing masks into character cells, which is how real plate faces look (tall, fitted cells)
and is much faster than laying out text per plate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).with_name("fonts")
_DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_FILES = {
    "din": FONT_DIR / "OSP-DIN.ttf",
    "sans": _DEJAVU / "DejaVuSans-Bold.ttf",
    "sans-book": _DEJAVU / "DejaVuSans.ttf",
    "mono": _DEJAVU / "DejaVuSansMono-Bold.ttf",
    "serif": _DEJAVU / "DejaVuSerif-Bold.ttf",
    "cjk": FONT_DIR / "PlatestreamProvinces-Bold.otf",
}
RENDER_SIZE = 128  # px em size of the cached masks: large enough that every resize is a shrink


@dataclass(frozen=True)
class Glyph:
    """An ink mask plus the rows of its capital height, so that descenders (the tail of a Q)
    hang out of the cell instead of shrinking the letter."""

    mask: np.ndarray  # uint8 0..255
    cap_top: int
    cap_bottom: int

    @property
    def aspect(self) -> float:
        """Width over capital height: how wide the glyph is when drawn one cell high."""
        return self.mask.shape[1] / max(self.cap_bottom - self.cap_top, 1)


@cache
def font(name: str, size: int = RENDER_SIZE) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_FILES[name]), size)


def _render(text: str, name: str, weight: int) -> np.ndarray:
    """Render on a canvas whose baseline row is the same for every text of one font."""
    f = font(name)
    ascent, descent = f.getmetrics()
    pad = 4 + weight
    x0, _, x1, _ = f.getbbox(text, stroke_width=weight, anchor="ls")
    img = Image.new("L", (x1 - x0 + 2 * pad, ascent + descent + 2 * pad), 0)
    ImageDraw.Draw(img).text(
        (pad - x0, pad + ascent),
        text,
        font=f,
        fill=255,
        anchor="ls",
        stroke_width=weight,
        stroke_fill=255,
    )
    return np.asarray(img)


#: characters a face draws with another one's shape, and how much wider plates print them:
#: OSP-DIN's letter O is its digit 0, while the DIN 1451 and FE plate faces print a round O a
#: quarter wider than the narrow 0. Taught one shape for both, the recognizer told them apart
#: by place alone and read the 0 of real European plates as O (RK906AJ as RK9O6AJ).
WIDER = {("O", "din"): 1.25}


@lru_cache(maxsize=8192)
def glyph(text: str, name: str, weight: int = 0) -> Glyph:
    """Cached mask of ``text`` (one character or a whole line) in font ``name``.

    ``weight`` thickens the strokes by that many pixels at the render size (about 1/128 em),
    which turns the regular DIN into the bolder plate face.
    """
    ink = _render(text, name, weight)
    ref = _render("H" if name != "cjk" else text, name, weight)
    ref_rows = np.flatnonzero(ref.max(1) > 64)
    rows, cols = np.flatnonzero(ink.max(1) > 0), np.flatnonzero(ink.max(0) > 0)
    if cols.size == 0:
        raise ValueError(f"font {name!r} has no glyph for {text!r}")
    # both canvases share the baseline row, so the reference capital's rows line up
    top, bottom = min(rows[0], ref_rows[0]), max(rows[-1], ref_rows[-1]) + 1
    mask = ink[top:bottom, cols[0] : cols[-1] + 1].copy()
    if (text, name) in WIDER:
        h, w = mask.shape
        mask = cv2.resize(mask, (round(w * WIDER[text, name]), h), interpolation=cv2.INTER_LINEAR)
    mask.flags.writeable = False
    return Glyph(mask, int(ref_rows[0] - top), int(ref_rows[-1] + 1 - top))


@cache
def stem_width(name: str) -> int:
    """Width of the font's vertical stems (its H's) in pixels at the render size."""
    row = glyph("H", name).mask
    row = row[row.shape[0] // 4] > 127
    edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
    return int(edges[1] - edges[0])


@lru_cache(maxsize=4096)
def wide_light_glyph(text: str, name: str, widen: float, stem: float) -> Glyph:
    """``text`` drawn ``widen`` times its width with strokes ``stem`` of its capital height
    thick. Faces made wide for short plate numbers keep light strokes (the Dutch Kenteken: wide
    letters, stems a tenth of their height), where a glyph stretched sideways grows bold: the
    reader, taught only the bold stretch, read a real 68-NS-ND's wide, thin D twice."""
    g = glyph(text, name)
    h, w = g.mask.shape
    thick, target = stem_width(name), stem * (g.cap_bottom - g.cap_top)
    # stretched by more than ``widen``, as thinning the strokes narrows the glyph again: an H
    # ends ``widen`` times its own width
    h_width = glyph("H", name).mask.shape[1]
    stretch = max((h_width * widen - target) / (h_width - thick), 1.0)
    mask = cv2.resize(g.mask, (round(w * stretch), h), interpolation=cv2.INTER_LINEAR)
    across = max(round(thick * stretch - target), 0)
    down = max(round(thick - target), 0)
    kernel = np.ones((down + 1, across + 1), np.uint8)
    mask = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    cols = np.flatnonzero(mask.max(0) > 0)
    mask = mask[:, cols[0] : cols[-1] + 1].copy()
    mask.flags.writeable = False
    return Glyph(mask, g.cap_top, g.cap_bottom)


def draw_mask(
    canvas: np.ndarray, mask: np.ndarray, box: tuple[float, float, float, float], color
) -> None:
    """Alpha-blend ``color`` into a float canvas through ``mask`` resized to ``box`` (x, y, w, h).

    Parts falling outside the canvas are clipped, so callers need not check.
    """
    x, y, w, h = box
    w, h = max(int(round(w)), 1), max(int(round(h)), 1)
    x, y = int(round(x)), int(round(y))
    alpha = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    ch, cw = canvas.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, cw), min(y + h, ch)
    if x2 <= x1 or y2 <= y1:
        return
    a = alpha[y1 - y : y2 - y, x1 - x : x2 - x, None]
    region = canvas[y1:y2, x1:x2]
    region *= 1 - a
    region += a * np.asarray(color, np.float32)


def draw_glyph(
    canvas: np.ndarray,
    g: Glyph,
    cell: tuple[float, float, float, float],
    color,
    widen: float = 1.0,
) -> None:
    """Draw a glyph whose capital height fills the cell's height, centred in the cell's width.

    The glyph keeps its own proportions (times ``widen``) unless it is wider than the cell,
    where it is squeezed: a "1" stays thin and a "W" is condensed, as on plates.
    """
    x, y, w, h = cell
    scale = h / max(g.cap_bottom - g.cap_top, 1)
    gw = min(g.mask.shape[1] * scale * widen, w)
    gh = g.mask.shape[0] * scale
    draw_mask(canvas, g.mask, (x + (w - gw) / 2, y - g.cap_top * scale, gw, gh), color)


def draw_line(
    canvas: np.ndarray,
    text: str,
    name: str,
    box: tuple[float, float, float, float],
    color,
    weight: int = 0,
) -> None:
    """Fit a line of small print (a state name, "BRASIL") into a box, centred, keeping its aspect
    unless it is too long."""
    g = glyph(text, name, weight)
    x, y, w, h = box
    gw = min(g.aspect * h, w)
    scale = h / max(g.cap_bottom - g.cap_top, 1)
    draw_mask(
        canvas,
        g.mask,
        (x + (w - gw) / 2, y - g.cap_top * scale, gw, g.mask.shape[0] * scale),
        color,
    )
