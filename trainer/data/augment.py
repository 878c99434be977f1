"""Photometric and geometric augmentation with a single strength knob.

The recognizer overfits small real sets quickly (the seed post found heavy augmentation
essential even with 300 k images). ``strength`` scales every effect together: 0 is none, 1 the
default, >1 harsher. Corner jitter trains the recognizer to tolerate the detector's corner errors.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.geometry import rectify
from trainer.synth.effects import motion_blur


def jitter_corners(corners: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Move each corner by a fraction of the plate size, as an imperfect detector would."""
    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    w = np.linalg.norm(c[1] - c[0]) + 1e-3
    h = np.linalg.norm(c[3] - c[0]) + 1e-3
    noise = rng.normal(0.0, 1.0, (4, 2)) * np.array([0.03 * w, 0.07 * h]) * strength
    grow = rng.uniform(-0.05, 0.1) * strength  # detectors err towards loose boxes
    shift = rng.normal(0.0, 1.0, 2) * np.array([0.015 * w, 0.03 * h]) * strength  # and off-centre
    centre = c.mean(0)
    return (centre + (c - centre) * (1 + grow) + noise + shift).astype(np.float32)


def exposure(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The scene under- or over-exposed: a gamma curve between 0.5 (a camera facing low sun, a
    plate blown out) and 2.2 (dusk on a fixed exposure: shadows crushed, a plate still legible
    to a person). Gain and bias alone keep the midtones' contrast, which real dark footage
    loses: the embedded detector found no plate in a darkened Dutch clip (gamma 2.2) that a
    viewer reads."""
    curve = (np.linspace(0.0, 1.0, 256) ** np.exp(rng.uniform(-0.7, 0.8)) * 255).round()
    return cv2.LUT(img, curve.astype(np.uint8))


def photometric(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Exposure, lighting, colour, resolution, blur, noise, occlusion and JPEG, each applied at
    random."""
    s = strength
    w = img.shape[1]
    if rng.random() < 0.25 * min(1.0, 2 * s):
        img = exposure(img, rng)
    out = img.astype(np.float32)
    if rng.random() < 0.8:
        gain = rng.uniform(1 - 0.45 * s, 1 + 0.35 * s)
        bias = rng.uniform(-40, 40) * s
        out = out * gain + bias
    if rng.random() < 0.3 * s:
        out = out * rng.uniform(1 - 0.25 * s, 1 + 0.25 * s, 3)
    if rng.random() < 0.1:
        out = np.repeat(out.mean(2, keepdims=True), 3, 2)
    elif rng.random() < 0.08 * s:  # a white balance far off (sodium or LED light): the
        out = out[..., rng.permutation(3)]  # ink/plate contrast matters, not the hue
    if rng.random() < 0.2 * s:  # a dull, low-contrast plate (dirt, haze, a cheap sensor)
        mean = out.mean((0, 1), keepdims=True)
        out = mean + (out - mean) * rng.uniform(max(0.3, 1 - 0.5 * s), 1.0)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.35 * s:
        out = low_resolution(out, rng)
    if rng.random() < 0.35 * s:
        sigma = rng.uniform(0.3, 1.3 * s)
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if rng.random() < 0.2 * s:  # up to 7 % of the width at strength 1.2: a car at speed
        length = int(rng.integers(3, 3 + round(0.06 * s * w) + 1))
        out = motion_blur(out, length, rng.uniform(0, 180))
    if rng.random() < 0.3 * s:
        noise = rng.normal(0, rng.uniform(2, 12 * s), out.shape)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.1 * s:
        out = occlude_edge(out, rng)
    if rng.random() < 0.4 * s:
        quality = int(rng.integers(max(10, int(60 - 40 * s)), 95))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def low_resolution(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The plate as a distant or low-resolution camera sees it: 30-110 px wide, scaled back up.

    Real plates in traffic video are often this small (the Dutch clips, the 94x24 Chinese crops),
    while most training plates are sharp and large; blur alone does not remove the same detail.
    """
    h, w = img.shape[:2]
    small_w = int(rng.uniform(30, 110))
    if small_w >= w:
        return img
    small_h = max(8, round(h * small_w / w))
    down = cv2.INTER_AREA if rng.random() < 0.5 else cv2.INTER_LINEAR
    small = cv2.resize(img, (small_w, small_h), interpolation=down)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def occlude_edge(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dark or bright bar over one edge, like a tow hook, a frame or a shadow."""
    out = img.copy()
    h, w = out.shape[:2]
    colour = rng.integers(0, 255, 3).tolist()
    if rng.random() < 0.5:
        bw = int(w * rng.uniform(0.03, 0.1))
        x0 = 0 if rng.random() < 0.5 else w - bw
        out[:, x0 : x0 + bw] = colour
    else:
        bh = int(h * rng.uniform(0.05, 0.2))
        y0 = 0 if rng.random() < 0.5 else h - bh
        out[y0 : y0 + bh, :] = colour
    return out


def augmented_plate(
    context: np.ndarray,
    corners: np.ndarray,
    out_wh: tuple[int, int],
    rng: np.random.Generator,
    strength: float = 1.0,
) -> np.ndarray:
    """Rectify a plate from jittered corners and degrade it: one recognizer training input."""
    if strength > 0:
        corners = jitter_corners(corners, rng, strength)
    plate = rectify(context, corners, out_wh)
    return photometric(plate, rng, strength) if strength > 0 else plate
