"""Plate reading with the embedded MaskOCR-style ONNX model.

Plates are rectified from the detector's 4 corners (a perspective warp, not a box crop) with the
same function the trainer uses, resized to the sidecar's input size and read in batches. The model
returns per-position probabilities; the voter fuses them across frames, so they are kept.

A model with a CTC head (sidecar ``ctc_model``, a file beside the model that reads the
encoder's strip tokens, the model's ``memory`` output) also gives per-strip probabilities. Its
character queries can lose count on free-form plates (a letter read twice or skipped), where
CTC, which must place every character on its own strips, counts right; where the two heads read
different texts, each text is scored by both heads and the likelier one is read (joint
CTC-attention rescoring, Kim et al., 2017). The head runs only where the queries' plate
confidence is not above the sidecar's ``ctc_skip_confidence``: of 8889 reads of the validation
crops and fresh synthetic plates, two thirds were above 0.7, and the head changed one of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from streamer.charset import ctc_peaks, decode_probs
from streamer.config import RecognizerConfig
from streamer.geometry import rectify, rectify_i420
from streamer.modelfile import ctc_head_file, load_sidecar, normalize_image, open_session

if TYPE_CHECKING:
    from streamer.sources import Frame


@dataclass
class Reading:
    text: str
    #: plate confidence: the product of the character confidences and of the end-class one
    #: (of a text chosen by both heads of a model with a CTC head: their joint probability).
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


def ctc_reading(
    strip_probs: np.ndarray, charset: tuple[str, ...], max_length: int
) -> Reading | None:
    """The CTC head's greedy read as a query-style Reading, so that voting and formats take it
    as any other: a character's distribution is that of the strip where it peaks, without the
    blank; None where it reads nothing or more characters than the queries can hold."""
    peaks = ctc_peaks(strip_probs)
    if not peaks or len(peaks) > max_length:
        return None
    probs = np.zeros((max_length, strip_probs.shape[1]), np.float32)
    probs[:, 0] = 1.0
    probs[: len(peaks)] = strip_probs[peaks]
    probs[: len(peaks), 0] = 0.0
    probs[: len(peaks)] /= probs[: len(peaks)].sum(1, keepdims=True)
    return reading_from_probs(probs, charset)


def query_log_likelihood(probs: np.ndarray, labels: list[int]) -> float:
    """log P of a text under the character queries: each position's class, then the end."""
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    total = float(logp[np.arange(len(labels)), labels].sum())
    return total + (float(logp[len(labels), 0]) if len(labels) < len(probs) else 0.0)


def ctc_log_likelihood(strip_probs: np.ndarray, labels: list[int]) -> float:
    """log P of a text under the CTC head: the forward algorithm (Graves et al., 2006) over the
    labels with a blank between and around them, summing every alignment to the strips."""
    logp = np.log(np.clip(strip_probs, 1e-12, 1.0))
    ext = np.zeros(2 * len(labels) + 1, np.int64)
    ext[1::2] = labels
    skip = np.zeros(len(ext), bool)  # a character may follow the one before it past a blank
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(len(ext), -np.inf)
    alpha[:2] = logp[0, ext[:2]]
    for t in range(1, len(logp)):
        stay_or_step = np.logaddexp(alpha, np.concatenate(([-np.inf], alpha[:-1])))
        jump = np.where(skip, np.concatenate(([-np.inf, -np.inf], alpha[:-2])), -np.inf)
        alpha = np.logaddexp(stay_or_step, jump) + logp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if len(ext) > 1 else alpha[-1])


def joint_reading(
    reading: Reading, strip_probs: np.ndarray, weight: float, recount_weight: float | None = None
) -> Reading:
    """The queries' ``reading``, or the CTC head's where it differs and scores higher by
    (1 - weight) x the queries' log-likelihood + weight x the CTC head's; ``recount_weight``
    (default ``weight``) where the two texts differ in length. CTC, which must place every
    character on its own strips, is the better counter; the queries the better judges of a
    character (a weight of 0.4 for every dispute read the Austrian I7859AM as 17859AM).

    Where the heads differ, the text chosen has that joint probability as its confidence, not
    one head's own: on a box with no plate the queries read noise and CTC may read a sure "0",
    which only the queries' doubt keeps out of the vote; and a disputed queries' read would
    otherwise outweigh the other views' switched reads of the same plate in the vote (val crops
    532 -> 534 of 563 read right, fresh synthetic US 83.6 -> 86.2 %)."""
    probs, charset = reading.probs, reading.charset
    alternative = ctc_reading(strip_probs, charset, len(probs))
    if alternative is None or alternative.text == reading.text:
        return reading
    if recount_weight is not None and len(alternative.text) != len(reading.text):
        weight = recount_weight
    index = {c: i for i, c in enumerate(charset)}

    def score(text: str) -> float:
        labels = [index[c] for c in text]
        return (1 - weight) * query_log_likelihood(probs, labels) + weight * ctc_log_likelihood(
            strip_probs, labels
        )

    joint, kept = score(alternative.text), score(reading.text)
    if joint <= kept:
        return replace(reading, confidence=math.exp(kept))
    return replace(alternative, confidence=math.exp(joint))


class Recognizer:
    """Reads rectified plates; everything about the model comes from its sidecar."""

    def __init__(self, config: RecognizerConfig | None = None):
        self.config = config or RecognizerConfig()
        self.spec = load_sidecar(self.config.model)
        self.session = open_session(self.config.model, self.config.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.charset: tuple[str, ...] = tuple(self.spec["charset"])
        self.input_size: tuple[int, int] = tuple(self.spec["input_size"])
        head = ctc_head_file(self.config.model, self.spec)
        # the head is too small for a second thread, whose pool would also compete with the
        # model's: at batch 8 on 2 threads, 0.62 ms a plate with the head on 2, 0.60 on 1
        self.ctc_session = open_session(head, 1) if head else None
        #: where the model has a CTC head, how much its score weighs in choosing a text, and
        #: where the two heads' texts differ in length
        self.ctc_weight: float = self.spec.get("ctc_rescoring_weight", 0.0)
        self.ctc_recount_weight: float = self.spec.get("ctc_recount_weight", self.ctc_weight)
        #: reads surer than this keep the queries' text without running the head
        self.ctc_skip_confidence: float = self.spec.get("ctc_skip_confidence", math.inf)

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
            outputs = self.session.run(None, {self.input_name: batch})
            queries = [reading_from_probs(p, self.charset) for p in outputs[0]]
            if self.ctc_session is not None:
                queries = self.rescored_where_unsure(queries, outputs[1])
            readings.extend(queries)
        return readings

    def rescored_where_unsure(self, readings: list[Reading], memory: np.ndarray) -> list[Reading]:
        """``joint_reading`` of the reads not above ``ctc_skip_confidence``, their CTC head run on
        their strip tokens (``memory``) alone."""
        unsure = [i for i, r in enumerate(readings) if r.confidence <= self.ctc_skip_confidence]
        if not unsure:
            return readings
        strips = self.ctc_session.run(None, {"memory": memory[unsure]})[0]
        rescored = list(readings)
        for i, strip_probs in zip(unsure, strips):
            rescored[i] = joint_reading(
                readings[i], strip_probs, self.ctc_weight, self.ctc_recount_weight
            )
        return rescored
