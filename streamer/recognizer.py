"""Plate reading with the embedded MaskOCR-style ONNX model.

Plates are rectified from the detector's 4 corners (a perspective warp, not a box crop) with the
same function the trainer uses, resized to the sidecar's input size and read in batches. The model
returns per-position probabilities; the voter fuses them across frames, so they are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from streamer.charset import decode_probs
from streamer.config import RecognizerConfig
from streamer.geometry import rectify, rectify_i420
from streamer.modelfile import load_sidecar, normalize_image, open_session

if TYPE_CHECKING:
    from streamer.sources import Frame


@dataclass
class Reading:
    text: str
    #: plate confidence: the product of the character confidences and of the end-class one.
    confidence: float
    char_confidences: list[float]
    #: (max_length, num_classes) softmax per position; class 0 is end/pad.
    probs: np.ndarray
    #: the model's classes, to turn fused probabilities back into text.
    charset: tuple[str, ...]


def preprocess_plates(crops: list[np.ndarray], spec: dict) -> np.ndarray:
    """BGR plate crops of any size -> the model's normalised input batch (shared with training)."""
    w, h = spec["input_size"]
    rgb = np.stack(
        [
            cv2.cvtColor(
                c if c.shape[:2] == (h, w) else cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA),
                cv2.COLOR_BGR2RGB,
            )
            for c in crops
        ]
    )
    return normalize_image(rgb, spec["mean"], spec["std"])


def reading_from_probs(probs: np.ndarray, charset: tuple[str, ...]) -> Reading:
    text, confs = decode_probs(probs, charset)
    end_conf = float(probs[len(text), 0]) if len(text) < len(probs) else 1.0
    confidence = math.prod(confs) * end_conf if text else 0.0
    return Reading(text, confidence, confs, probs, tuple(charset))


class Recognizer:
    """Reads rectified plates; everything about the model comes from its sidecar."""

    def __init__(self, config: RecognizerConfig | None = None):
        self.config = config or RecognizerConfig()
        self.spec = load_sidecar(self.config.model)
        self.session = open_session(self.config.model, self.config.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.charset: tuple[str, ...] = tuple(self.spec["charset"])
        self.input_size: tuple[int, int] = tuple(self.spec["input_size"])

    def rectify(self, frame_bgr: np.ndarray, corners: np.ndarray) -> np.ndarray:
        return rectify(frame_bgr, corners, self.input_size)

    def rectify_frame(self, frame: Frame, corners: np.ndarray) -> np.ndarray:
        """The plate of a decoded frame, from its I420 planes where it has them."""
        if frame.i420 is None:
            return self.rectify(frame.image, corners)
        return rectify_i420(frame.i420, corners, self.input_size)

    def recognize(self, crops: list[np.ndarray]) -> list[Reading]:
        readings: list[Reading] = []
        step = max(1, self.config.batch_size)
        for i in range(0, len(crops), step):
            batch = preprocess_plates(crops[i : i + step], self.spec)
            probs = self.session.run(None, {self.input_name: batch})[0]
            readings.extend(reading_from_probs(p, self.charset) for p in probs)
        return readings
