"""Backgrounds for synthetic scenes: a procedural street, or a real image supplied by the caller.

The procedural street (sky, buildings with windows, trees, road with lane marks, car bodies,
signs with lettering) is what ships and what tests use; it carries the hard negatives a plate
detector must learn to ignore (text on signs, window grids, bumpers without plates). Real
backgrounds are read in place by the trainer and passed in as arrays; nothing from
``../shared/data`` is stored here.
"""

from __future__ import annotations

import cv2
import numpy as np

from trainer.synth.glyphs import draw_glyph, glyph
from trainer.synth.texts import DIGITS, LETTERS

SIGN_CHARS = LETTERS + DIGITS
LED_COLORS = ((0, 170, 255), (0, 230, 120), (40, 40, 255), (230, 230, 230))  # BGR


def fit_background(
    image: np.ndarray, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Scale a real image to cover ``size`` (w, h) and cut a random window of it."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih) * rng.uniform(1.0, 1.4)
    nw, nh = max(w, int(np.ceil(iw * scale))), max(h, int(np.ceil(ih * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    big = cv2.resize(image, (nw, nh), interpolation=interp)
    x, y = int(rng.integers(0, nw - w + 1)), int(rng.integers(0, nh - h + 1))
    out = big[y : y + h, x : x + w]
    return out[:, ::-1].copy() if rng.random() < 0.5 else out.copy()


def value_noise(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth random field in about -1..1 with ``cells`` blobs across the width."""
    w, h = size
    grid = rng.normal(0, 1, (max(2, cells * h // max(w, 1)), max(2, cells))).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def textured(img: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Multiply in noise at a few scales: flat colour fields read as synthetic to a network."""
    h, w = img.shape[:2]
    tex = sum(value_noise(rng, (w, h), c) * a for c, a in ((4, 0.5), (24, 0.3), (120, 0.2)))
    fine = rng.standard_normal((h, w), dtype=np.float32) * 0.3
    gain = 1 + amount * (tex + fine)[..., None]
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _random_color(rng: np.random.Generator, lo: int = 30, hi: int = 230) -> tuple[int, int, int]:
    grey = rng.integers(lo, hi)
    return tuple(int(np.clip(grey + rng.normal(0, 25), 0, 255)) for _ in range(3))


def draw_sky_and_road(img: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    h, w = img.shape[:2]
    top, low = np.array(_random_color(rng, 150, 250)), np.array(_random_color(rng, 120, 230))
    top[0] = min(255, top[0] + 30)  # skies lean blue
    t = np.linspace(0, 1, max(horizon, 1), dtype=np.float32)[:, None, None]
    img[:horizon] = (top * (1 - t) + low * t).astype(np.uint8)
    asphalt = rng.integers(60, 140)
    img[horizon:] = (asphalt, asphalt, asphalt + rng.integers(-5, 6))
    vx = rng.uniform(0.2, 0.8) * w
    paint = (230, 230, 230) if rng.random() < 0.7 else (40, 190, 230)
    for _ in range(int(rng.integers(2, 6))):
        _draw_lane_line(img, horizon, vx, rng.uniform(-0.5, 1.5) * w, rng.random() < 0.5, paint)


def _draw_lane_line(img, horizon: int, vx: float, bottom_x: float, dashed: bool, paint) -> None:
    """A painted line running from the bottom edge to the vanishing point, widening as it nears."""
    h = img.shape[0]
    step = max(8, h // 14) if dashed else h
    for y0 in range(horizon, h, step):
        y1 = min(h, y0 + (max(4, h // 28) if dashed else h))
        xs = [vx + (bottom_x - vx) * (y - horizon) / max(h - horizon, 1) for y in (y0, y1)]
        hw = [1 + 6 * (y - horizon) / h for y in (y0, y1)]
        pts = np.array(
            [(xs[0] - hw[0], y0), (xs[0] + hw[0], y0), (xs[1] + hw[1], y1), (xs[1] - hw[1], y1)]
        )
        cv2.fillPoly(img, [pts.astype(np.int32)], paint, cv2.LINE_AA)


def draw_buildings(img: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    w = img.shape[1]
    x = int(rng.integers(-40, 0))
    while x < w:
        bw = int(rng.integers(w // 12, w // 3))
        top = int(horizon - rng.uniform(0.1, 1.0) * horizon)
        wall = _random_color(rng, 60, 220)
        cv2.rectangle(img, (x, top), (x + bw, horizon), wall, -1)
        step = int(rng.integers(10, 28))
        win = _random_color(rng, 20, 120) if rng.random() < 0.7 else _random_color(rng, 150, 250)
        for wy in range(top + step // 2, horizon - step, step):
            for wx in range(x + step // 2, x + bw - step // 2, step):
                cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2), win, -1)
        x += bw + int(rng.integers(0, 20))
    for _ in range(int(rng.integers(0, 5))):
        c = (int(rng.integers(w)), int(horizon - rng.integers(0, max(horizon // 2, 1))))
        green = (int(rng.integers(20, 70)), int(rng.integers(70, 140)), int(rng.integers(20, 70)))
        cv2.ellipse(
            img, c, (int(rng.integers(15, 80)), int(rng.integers(20, 90))), 0, 0, 360, green, -1
        )


def draw_car_bodies(img: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Bumper-like shapes without plates: gradient boxes with lamps and dark glass."""
    h, w = img.shape[:2]
    for _ in range(count):
        bw = int(rng.uniform(0.1, 0.5) * w)
        bh = int(bw * rng.uniform(0.3, 0.8))
        x, y = int(rng.integers(-bw // 3, w - bw // 2)), int(rng.integers(h // 4, h))
        color = np.array(_random_color(rng, 20, 240), np.float32)
        t = np.linspace(1.15, 0.7, max(bh, 1), dtype=np.float32)[:, None, None]
        patch = np.clip(color * t, 0, 255).astype(np.uint8) * np.ones((1, max(bw, 1), 1), np.uint8)
        y1, y2, x1, x2 = max(y, 0), min(y + bh, h), max(x, 0), min(x + bw, w)
        if y2 > y1 and x2 > x1:
            img[y1:y2, x1:x2] = patch[y1 - y : y2 - y, x1 - x : x2 - x]
        cv2.rectangle(img, (x, y), (x + bw, y + bh // 3), _random_color(rng, 10, 60), -1)
        lamp = (40, 40, 200) if rng.random() < 0.5 else (220, 220, 220)
        for lx in (x + bw // 20, x + bw - bw // 20 - bw // 6):
            cv2.rectangle(img, (lx, y + bh // 2), (lx + bw // 6, y + bh // 2 + bh // 8), lamp, -1)


def draw_signs(img: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Rectangles with lettering: shop signs and road signs, the detector's worst negatives."""
    h, w = img.shape[:2]
    fonts = ("sans", "din", "serif", "mono")
    for _ in range(count):
        n = int(rng.integers(2, 9))
        ch = int(rng.uniform(8, 40))
        sw, sh = int(n * ch * rng.uniform(0.6, 1.0) + ch), int(ch * rng.uniform(1.3, 2.2))
        x, y = int(rng.integers(-sw // 4, w)), int(rng.integers(-sh // 4, h))
        led = rng.random() < 0.25  # a bus's destination display, a shop's scrolling sign
        bg, ink = (
            ((15, 15, 15), LED_COLORS[rng.integers(len(LED_COLORS))])
            if led
            else (_random_color(rng), _random_color(rng))
        )
        cv2.rectangle(img, (x, y), (x + sw, y + sh), bg, -1)
        x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + sw, w), min(y + sh, h)
        if x2 <= x1 or y2 <= y1:
            continue
        roi = img[y1:y2, x1:x2].astype(np.float32)
        font, cell = fonts[rng.integers(len(fonts))], (sw - ch) / n
        for i in range(n):
            c = SIGN_CHARS[rng.integers(len(SIGN_CHARS))]
            box = (x - x1 + ch / 2 + i * cell, y - y1 + (sh - ch) / 2, cell * 0.9, ch)
            draw_glyph(roi, glyph(c, font), box, ink)
        if led:
            roi *= led_dots(roi.shape[:2], max(2, ch // 7))[..., None]
        img[y1:y2, x1:x2] = roi.astype(np.uint8)


def led_dots(shape: tuple[int, int], pitch: int) -> np.ndarray:
    """A grid of round lamps, ``pitch`` px apart: multiplied in, it turns lettering into the dot
    matrix of a display."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d = np.hypot(yy % pitch - (pitch - 1) / 2, xx % pitch - (pitch - 1) / 2)
    return np.clip(1.2 - d / (pitch * 0.45), 0.15, 1.0).astype(np.float32)


def procedural_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A street-like scene of ``size`` (w, h) with plenty of plate-like distractors."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    horizon = int(h * rng.uniform(0.15, 0.6))
    draw_sky_and_road(img, rng, horizon)
    draw_buildings(img, rng, horizon)
    draw_car_bodies(img, rng, int(rng.integers(0, 4)))
    draw_signs(img, rng, int(rng.integers(0, 4)))
    return textured(img, rng, rng.uniform(0.05, 0.15))
