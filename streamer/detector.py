"""Plate detection with the embedded SCRFD-style ONNX model.

The frame is letterboxed (aspect kept) to an input whose longer side is the sidecar's
``max_side`` and whose sides are multiples of 32, so a 16:9 frame costs 640x384 rather than a
padded 640x640. The exported graph already decodes anchor points into boxes and corners in input
pixels; here they are filtered by score, de-duplicated by NMS and mapped back to the frame. The
trainer uses ``preprocess_frame`` and ``postprocess`` too, so validation measures this exact path.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.config import DetectorConfig
from streamer.geometry import Letterbox, box_iou, letterbox
from streamer.modelfile import load_sidecar, normalize_image, open_session


@dataclass
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in frame pixels
    corners: np.ndarray  # (4, 2) TL, TR, BR, BL in frame pixels
    score: float


def input_size_for(frame_wh: tuple[int, int], max_side: int, multiple: int = 32) -> tuple[int, int]:
    """The smallest multiple-of-32 input that holds the frame scaled to ``max_side``."""
    w, h = frame_wh
    scale = max_side / max(w, h)
    round_up = lambda v: int(np.ceil(v * scale / multiple) * multiple)  # noqa: E731
    return round_up(w), round_up(h)


def preprocess_frame(
    frame_bgr: np.ndarray, input_wh: tuple[int, int], spec: dict
) -> tuple[np.ndarray, Letterbox]:
    """Letterbox and normalise one frame into a (1, 3, H, W) float32 batch."""
    boxed, lb = letterbox(frame_bgr, input_wh)
    rgb = cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB)[None]
    return normalize_image(rgb, spec["mean"], spec["std"]), lb


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        overlaps = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou]
    return np.array(keep, dtype=np.int64)


def postprocess(
    raw: np.ndarray, lb: Letterbox, score_threshold: float, nms_iou: float
) -> list[Detection]:
    """(N, 13) decoded model output for one image -> frame-space detections."""
    raw = raw[raw[:, 0] >= score_threshold]
    if not len(raw):
        return []
    keep = nms(raw[:, 1:5], raw[:, 0], nms_iou)
    boxes = lb.to_frame(raw[keep, 1:5])
    corners = lb.to_frame(raw[keep, 5:13]).reshape(-1, 4, 2)
    return [Detection(b, c, float(s)) for b, c, s in zip(boxes, corners, raw[keep, 0])]


class Detector:
    """Finds plates in BGR frames; thresholds and input size come from the sidecar unless set."""

    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        self.spec = load_sidecar(self.config.model)
        self.session = open_session(self.config.model, self.config.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.score_threshold = self.config.score_threshold or self.spec["score_threshold"]
        self.nms_iou = self.config.nms_iou or self.spec["nms_iou"]
        self._input_sizes: dict[tuple[int, int], tuple[int, int]] = {}

    def input_size(self, frame_wh: tuple[int, int]) -> tuple[int, int]:
        if self.config.input_size:
            return tuple(self.config.input_size)
        if frame_wh not in self._input_sizes:
            max_side = self.config.max_side or self.spec["max_side"]
            self._input_sizes[frame_wh] = input_size_for(frame_wh, max_side)
        return self._input_sizes[frame_wh]

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        h, w = frame_bgr.shape[:2]
        batch, lb = preprocess_frame(frame_bgr, self.input_size((w, h)), self.spec)
        raw = self.session.run(None, {self.input_name: batch})[0][0]
        return postprocess(raw, lb, self.score_threshold, self.nms_iou)
