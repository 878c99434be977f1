"""Fixed changes to the labelled clips, as another camera would have filmed them.

The clips are few and alike (most are Dutch parked cars on a grey day), so reading all their
plates says little about a camera at dusk, a car passing at speed or a stream compressed hard.
Each change here is one fixed, seeded picture-to-picture function (or an encoder setting), so a
figure measured with it can be repeated; sizes are in fractions of the frame width so a 1080p
sample clip and a 640x480 real clip are changed alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from trainer.synth.effects import gaussian_blur, motion_blur, sensor_noise

Picture = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def darker(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dusk on a fixed exposure: gamma 2.2 and 0.8 gain (a mean luma of 84 becomes about 38),
    with the sensor noise such a frame carries."""
    curve = (np.linspace(0.0, 1.0, 256) ** 2.2 * 0.8 * 255).round().astype(np.uint8)
    return sensor_noise(cv2.LUT(img, curve), rng, 4.0)


def brighter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Overexposed: 1.6 gain and 30 levels more, light plates clipping to white."""
    return np.clip(img.astype(np.float32) * 1.6 + 30, 0, 255).astype(np.uint8)


def defocused(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Out of focus: a Gaussian of sigma 0.2 % of the width (1.3 px at 640)."""
    return gaussian_blur(img, 0.002 * img.shape[1])


def smeared(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Moving past a slow shutter: a horizontal smear 1.4 % of the width (9 px at 640, about a
    tenth of a parked car's plate in the Dutch clips)."""
    return motion_blur(img, 0.014 * img.shape[1], 0.0)


def half_size(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A camera of half the resolution (or twice as far): each side halved, to even pixels."""
    h, w = img.shape[:2]
    return cv2.resize(img, (w // 4 * 2, h // 4 * 2), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Perturbation:
    picture: Picture | None = None
    #: libx264's constant rate factor for the changed copy: 18 is near lossless
    crf: int = 18


PERTURBATIONS: dict[str, Perturbation] = {
    "dark": Perturbation(darker, crf=23),
    "bright": Perturbation(brighter),
    "defocus": Perturbation(defocused),
    "motion": Perturbation(smeared),
    "half-size": Perturbation(half_size),
    "compressed": Perturbation(crf=38),
}
