"""The front or rear face of a car, drawn flat, with a slot where its plate goes.

Plates are almost always seen on a vehicle, and the detector should learn that context (a
bumper, lamps, a plate recess) as well as the plate itself. The face is drawn in millimetres on
the plane of the plate, so that one homography places both the face and its plate in a scene,
and a video can texture the face of a moving 3-D box with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from trainer.synth.backgrounds import SIGN_CHARS
from trainer.synth.glyphs import draw_mask, glyph
from trainer.synth.texts import LETTERS

BODY_COLORS = (  # BGR, roughly the world's car colour shares
    (235, 235, 235),
    (200, 200, 200),
    (160, 160, 165),
    (40, 40, 40),
    (25, 25, 30),
    (40, 40, 170),
    (140, 70, 30),
    (60, 80, 40),
    (150, 185, 205),
    (30, 90, 180),
    (90, 60, 60),
)


@dataclass
class CarFace:
    image: np.ndarray  # BGR uint8
    alpha: np.ndarray  # float32 0..1, the car's outline
    px_per_mm: float
    plate_mm: tuple[float, float, float, float]  # x, y, w, h of the plate on the face
    lamps_mm: tuple[tuple[float, float], ...]  # centres of the head or tail lamps
    rear: bool

    @property
    def size_mm(self) -> tuple[float, float]:
        return self.image.shape[1] / self.px_per_mm, self.image.shape[0] / self.px_per_mm


def _poly(img: np.ndarray, pts_mm, r: float, color) -> None:
    pts = np.round(np.asarray(pts_mm, np.float64) * r * 16).astype(np.int32)
    cv2.fillPoly(img, [pts], color, cv2.LINE_AA, 4)


def _shade(color, factor: float) -> tuple[float, ...]:
    return tuple(float(np.clip(c * factor, 0, 255)) for c in color)


def car_face(
    rng: np.random.Generator,
    plate_wh_mm: tuple[float, float],
    px_per_mm: float,
    rear: bool | None = None,
    color: tuple[float, float, float] | None = None,
    badges: bool = False,
) -> CarFace:
    """Draw a car face around a plate of ``plate_wh_mm``; the plate itself is pasted by the caller.

    Proportions are a typical passenger car's (1.7-1.95 m wide, 1.35-1.7 m tall) with the plate
    low on the bumper at the front and on the bumper or boot lid at the rear. ``badges`` adds
    the lettered model badges cars carry near their plates (off by default, so that the sample
    videos' faces stay as they were generated).
    """
    rear = bool(rng.random() < 0.5) if rear is None else rear
    w_mm, h_mm = rng.uniform(1700, 1950), rng.uniform(1350, 1700)
    r = px_per_mm
    img = np.zeros((max(int(h_mm * r), 8), max(int(w_mm * r), 8), 3), np.uint8)
    alpha = np.zeros(img.shape[:2], np.uint8)
    if color is None:
        color = BODY_COLORS[rng.integers(len(BODY_COLORS))]
    color = tuple(float(np.clip(c + rng.normal(0, 8), 0, 255)) for c in color)

    waist = h_mm * rng.uniform(0.38, 0.46)  # where the glass ends and the body begins
    ground = h_mm - rng.uniform(120, 180)
    roof_inset = w_mm * rng.uniform(0.12, 0.2)
    body = [(0, waist + 40), (w_mm, waist + 40), (w_mm, ground), (0, ground)]
    cabin = [(roof_inset, 0), (w_mm - roof_inset, 0), (w_mm - 40, waist + 60), (40, waist + 60)]
    for poly in (body, cabin):
        _poly(alpha, poly, r, 255)
    _body_gradient(img, alpha, color, waist * r)

    pillar = w_mm * 0.05
    glass = [
        (roof_inset + pillar, 60),
        (w_mm - roof_inset - pillar, 60),
        (w_mm - 40 - pillar, waist - 10),
        (40 + pillar, waist - 10),
    ]
    _poly(img, glass, r, _shade((70, 60, 50), rng.uniform(0.4, 1.3)))

    wheel_w = 200
    for x in (90, w_mm - 90 - wheel_w):
        wheel = [(x, ground - 5), (x + wheel_w, ground - 5), (x + wheel_w, h_mm), (x, h_mm)]
        _poly(img, wheel, r, (20, 20, 20))
        _poly(alpha, wheel, r, 255)

    pw, ph = plate_wh_mm
    bumper_top = ground - rng.uniform(380, 480)
    _poly(
        img,
        [(0, bumper_top), (w_mm, bumper_top), (w_mm, ground), (0, ground)],
        r,
        _shade(color, rng.uniform(0.75, 0.95)) if rng.random() < 0.6 else (35, 35, 35),
    )
    lamp_y = waist + rng.uniform(120, 260)
    lamps = _draw_lamps(img, r, w_mm, lamp_y, rear, rng)
    if not rear:
        _draw_grille(img, r, w_mm, lamp_y, bumper_top, rng)

    on_boot = rear and rng.random() < 0.4
    plate_y = (lamp_y + 80) if on_boot else (bumper_top + rng.uniform(40, 120))
    plate_y = min(plate_y, ground - ph - 30)
    plate_x = (w_mm - pw) / 2 + rng.normal(0, 15)
    recess = 25 if rng.random() < 0.7 else 8
    x1, y1, x2, y2 = (
        plate_x - recess,
        plate_y - recess,
        plate_x + pw + recess,
        plate_y + ph + recess,
    )
    frame_color = _shade(color, 0.45) if rng.random() < 0.5 else (25, 25, 25)
    _poly(img, [(x1, y1), (x2, y1), (x2, y2), (x1, y2)], r, frame_color)
    if badges:
        _draw_badges(img, r, w_mm, (lamp_y, bumper_top, ground), (x1, x2), rear, rng)
    return CarFace(img, alpha.astype(np.float32) / 255, r, (plate_x, plate_y, pw, ph), lamps, rear)


def _draw_badges(img, r, w_mm, rows_mm, plate_span_mm, rear, rng) -> None:
    """Model names in chrome or dark letters beside or above the plate ("UNO", "J1", "TDI").

    Real cars put these a hand's width from the plate, and a detector that has only seen bare
    bodies reads them as plates: on the real Brazilian and US scenes they were half of its
    false boxes.
    """
    lamp_y, bumper_top, ground = rows_mm
    for _ in range(int(rng.choice(3, p=[0.35, 0.45, 0.2] if rear else [0.7, 0.25, 0.05]))):
        text = "".join(
            SIGN_CHARS[rng.integers(len(LETTERS) if rng.random() < 0.75 else len(SIGN_CHARS))]
            for _ in range(int(rng.integers(1, 7)))
        )
        height = rng.uniform(20, 55)
        g = glyph(text, ["sans", "serif", "din", "mono"][rng.integers(4)], int(rng.integers(0, 2)))
        width = min(g.aspect * height * rng.uniform(0.8, 1.3), w_mm * 0.3)
        lo, hi = (
            (plate_span_mm[1] + 40, w_mm - 60 - width)
            if rng.random() < 0.5
            else (60, plate_span_mm[0] - 40 - width)
        )
        top, bottom = lamp_y, min(bumper_top + 60, ground - height)
        if hi <= lo or bottom <= top:
            continue
        x, y = rng.uniform(lo, hi), rng.uniform(top, bottom)
        x0, y0 = int(x * r) - 2, int(y * r) - 2
        x1, y1 = int((x + width) * r) + 3, int((y + height) * r) + 3
        if x0 < 0 or y0 < 0 or x1 > img.shape[1] or y1 > img.shape[0] or x1 - x0 < 3:
            continue
        roi = img[y0:y1, x0:x1].astype(np.float32)
        box = (2.0, 2.0, (x1 - x0) - 5.0, (y1 - y0) - 5.0)
        chrome = rng.random() < 0.7
        shadow = (20, 20, 20) if chrome else (230, 230, 230)
        ink = tuple(float(v) for v in rng.uniform(170, 250, 3)) if chrome else (25, 25, 25)
        if rng.random() < 0.8:
            draw_mask(roi, g.mask, (box[0] + 1, box[1] + 1, box[2], box[3]), shadow)
        draw_mask(roi, g.mask, box, ink)
        img[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)


def _body_gradient(img: np.ndarray, alpha: np.ndarray, color, waist_px: float) -> None:
    """Paint is lit from the sky: lighter on the upper surfaces, darker towards the ground."""
    h = img.shape[0]
    y = np.arange(h, dtype=np.float32)
    gain = 1.1 - 0.3 * np.clip((y - waist_px) / max(h - waist_px, 1), 0, 1)
    img[:] = np.clip(np.outer(gain, color), 0, 255).astype(np.uint8)[:, None, :]
    cv2.bitwise_and(img, img, dst=img, mask=alpha)


def _draw_lamps(img, r, w_mm, y, rear, rng) -> tuple[tuple[float, float], ...]:
    lw, lh = rng.uniform(220, 380), rng.uniform(90, 180)
    color = (30, 30, rng.uniform(150, 220)) if rear else (210, 215, 215)
    inner = (60, 60, 255) if rear else (250, 250, 250)
    centres = []
    for x in (50, w_mm - 50 - lw):
        _poly(img, [(x, y), (x + lw, y), (x + lw, y + lh), (x, y + lh)], r, color)
        _poly(
            img,
            [
                (x + lw * 0.3, y + lh * 0.3),
                (x + lw * 0.7, y + lh * 0.3),
                (x + lw * 0.7, y + lh * 0.7),
                (x + lw * 0.3, y + lh * 0.7),
            ],
            r,
            inner,
        )
        centres.append((x + lw / 2, y + lh / 2))
    return tuple(centres)


def _draw_grille(img, r, w_mm, lamp_y, bumper_top, rng) -> None:
    x1, x2 = w_mm * 0.3, w_mm * 0.7
    y1, y2 = lamp_y, min(lamp_y + rng.uniform(150, 260), bumper_top - 10)
    _poly(img, [(x1, y1), (x2, y1), (x2, y2), (x1, y2)], r, (30, 30, 30))
    for y in np.arange(y1 + 30, y2, 45):
        cv2.line(img, (int(x1 * r), int(y * r)), (int(x2 * r), int(y * r)), (70, 70, 70), 1)
    cv2.ellipse(
        img,
        (int(w_mm / 2 * r), int((y1 + y2) / 2 * r)),
        (max(1, int(60 * r)), max(1, int(35 * r))),
        0,
        0,
        360,
        (190, 190, 190),
        -1,
    )
