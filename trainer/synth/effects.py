"""Camera and lighting effects shared by synthetic scenes, plate crops and videos.

Rendered plates are too clean: what makes real plates hard is the camera (defocus, motion,
sensor noise, compression) and the light (glare on the retro-reflective sheet, night scenes lit
by headlights). Each effect takes and returns a uint8 BGR image and draws its randomness from the
caller's generator, so that a seed reproduces a sample.
"""

from __future__ import annotations

import cv2
import numpy as np


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.3:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigma)


def motion_blur(img: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Blur along a line, as a moving vehicle or a shaking camera smears during the exposure."""
    n = int(round(length))
    if n < 2:
        return img
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), angle_deg, 1.0)
    k = cv2.warpAffine(k, rot, (n, n))
    return cv2.filter2D(img, -1, k / max(float(k.sum()), 1e-6))


def sensor_noise(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Luma noise per pixel plus blotchy, half-resolution colour noise, as in real sensors."""
    h, w = img.shape[:2]
    luma = rng.standard_normal((h, w, 1), dtype=np.float32) * sigma
    chroma = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32) * sigma * 0.5
    chroma = cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img.astype(np.float32) + luma + chroma, 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def radial_light(
    size: tuple[int, int], centre: tuple[float, float], radius: tuple[float, float], angle: float
) -> np.ndarray:
    """A soft elliptical spot (float 0..1), the shape of a highlight or a lamp's bloom."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    ca, sa = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    dx, dy = x - centre[0], y - centre[1]
    u, v = (dx * ca + dy * sa) / max(radius[0], 1), (-dx * sa + dy * ca) / max(radius[1], 1)
    return np.exp(-(u * u + v * v) * 2).astype(np.float32)


def add_light(img: np.ndarray, light: np.ndarray, strength: float, color=(255, 255, 255)):
    """Screen-blend a light map: bright areas saturate instead of wrapping."""
    f = img.astype(np.float32)
    a = np.clip(light * strength, 0, 1)[..., None]
    out = f + a * (np.asarray(color, np.float32) - f)
    return np.clip(out, 0, 255).astype(np.uint8)


def glare(img: np.ndarray, rng: np.random.Generator, box: tuple[float, float, float, float]):
    """A specular highlight across part of a plate: sunlight or a flash on the reflective sheet,
    which washes characters out where it falls."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    centre = (rng.uniform(x1, x2), rng.uniform(y1, y2))
    radius = (w * rng.uniform(0.1, 0.5), h * rng.uniform(0.2, 0.8))
    light = radial_light((img.shape[1], img.shape[0]), centre, radius, rng.uniform(-40, 40))
    return add_light(img, light, rng.uniform(0.5, 1.0))


def night(
    img: np.ndarray, rng: np.random.Generator, lamps: list[tuple[float, float, float]]
) -> np.ndarray:
    """Dark, blue-shifted, noisy frame with blooming lamps at ``lamps`` (x, y, radius).

    Plates stay readable at night because they are lit and retro-reflective; callers brighten
    plate regions before calling this.
    """
    gain = rng.uniform(0.15, 0.4)
    f = img.astype(np.float32) / 255
    dark = np.power(f, rng.uniform(1.2, 1.8)) * gain * 255
    dark *= np.array([1.1, 1.0, 0.9], np.float32)  # sodium or LED street light shifts the tint
    out = np.clip(dark, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    for x, y, r in lamps:
        bloom = radial_light((w, h), (x, y), (r * 3, r * 2.2), 0)
        out = add_light(out, bloom, rng.uniform(0.6, 1.0), (235, 245, 255))
    return sensor_noise(out, rng, rng.uniform(3, 8))


def color_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White balance, exposure and contrast of a different camera."""
    f = img.astype(np.float32)
    f *= rng.uniform(0.9, 1.1, 3).astype(np.float32)  # white balance
    mean = f.mean()
    f = (f - mean) * rng.uniform(0.7, 1.2) + mean * rng.uniform(0.6, 1.3)
    return np.clip(f, 0, 255).astype(np.uint8)


def camera(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """The usual chain of a cheap camera: exposure, focus, motion, noise, compression.

    ``strength`` scales how far each effect may go (0: none); every effect is applied at random.
    """
    s = strength
    out = img
    if rng.random() < 0.7:
        out = color_jitter(out, rng)
    if rng.random() < 0.5 * min(s, 1):
        out = gaussian_blur(out, rng.uniform(0.3, 1.6 * s))
    if rng.random() < 0.3 * min(s, 1):
        out = motion_blur(out, rng.uniform(2, 2 + 7 * s), rng.uniform(0, 180))
    if rng.random() < 0.1:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.6:
        out = sensor_noise(out, rng, rng.uniform(1, 2 + 6 * s))
    if rng.random() < 0.6:
        out = jpeg(out, int(rng.uniform(max(10, 90 - 60 * s), 95)))
    return out
