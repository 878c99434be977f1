"""Plate detection with the embedded SCRFD-style ONNX model.

The frame is letterboxed (aspect kept) to an input whose longer side is the sidecar's
``max_side`` and whose sides are multiples of 32, so a 16:9 frame costs 640x384 rather than a
padded 640x640. The graph ends at the head's raw maps; the locations whose score passes are
decoded into boxes and corners in input pixels, de-duplicated by NMS and mapped back to the
frame. The trainer uses ``preprocess_frame``, ``decode_levels`` and ``postprocess`` too, so
validation measures this exact path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from streamer.config import ConfigError, DetectorConfig
from streamer.geometry import (
    Letterbox,
    box_iou,
    crop_i420,
    from_i420,
    letterbox,
    letterbox_params,
    pad_letterbox,
    shrink,
)
from streamer.modelfile import ModelError, load_sidecar, normalize_image, open_session

if TYPE_CHECKING:
    from streamer.sources import Frame


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


def letterboxed_rgb(
    frame_bgr: np.ndarray, input_wh: tuple[int, int]
) -> tuple[np.ndarray, Letterbox]:
    """The frame letterboxed to the model's input, as (H, W, 3) uint8 RGB."""
    boxed, lb = letterbox(frame_bgr, input_wh)
    return cv2.cvtColor(boxed, cv2.COLOR_BGR2RGB), lb


def letterboxed_rgb_i420(
    yuv: tuple[np.ndarray, np.ndarray, np.ndarray], input_wh: tuple[int, int]
) -> tuple[np.ndarray, Letterbox]:
    """``letterboxed_rgb`` of a decoded I420 picture given as its Y, U and V planes: the planes
    are scaled first and only the model's input is converted (0.9 against 2.3 ms for a 1080p
    frame). Where the scaled picture has an odd side (856x480 to 640x359, many search areas),
    its luma gets one replicated row or column and its chroma the even size, and the extra line
    is cut after the conversion: chroma is then off by under half a pixel, where converting the
    whole frame first would cost a full-frame conversion on every frame."""
    y, u, v = yuv
    h, w = y.shape
    lb = letterbox_params((w, h), input_wh)
    new_w, new_h = round(w * lb.scale), round(h * lb.scale)
    even_w, even_h = new_w + new_w % 2, new_h + new_h % 2
    luma = shrink(y, (new_w, new_h))
    if (even_w, even_h) != (new_w, new_h):
        luma = cv2.copyMakeBorder(luma, 0, even_h - new_h, 0, even_w - new_w, cv2.BORDER_REPLICATE)
    rgb = from_i420(
        luma,
        shrink(u, (even_w // 2, even_h // 2)),
        shrink(v, (even_w // 2, even_h // 2)),
        cv2.COLOR_YUV2RGB_I420,
    )
    return pad_letterbox(rgb[:new_h, :new_w], input_wh, lb), lb


def preprocess_frame(
    frame_bgr: np.ndarray, input_wh: tuple[int, int], spec: dict
) -> tuple[np.ndarray, Letterbox]:
    """Letterbox and normalise one frame into a (1, 3, H, W) float32 batch: the input of the
    torch model and of an FP32 export."""
    rgb, lb = letterboxed_rgb(frame_bgr, input_wh)
    return normalize_image(rgb[None], spec["mean"], spec["std"]), lb


def quantization_table(
    mean: list[float], std: list[float], scale: float, zero_point: int
) -> np.ndarray:
    """(1, 256, 3) uint8: what each value of each channel becomes when normalised
    (``normalize_image``) and then quantised as ONNX Runtime's QuantizeLinear does it (round
    half to even, saturate), so that an INT8 graph whose input quantisation moved out of it
    computes exactly what it computed before; (1, 256) where the three channels agree (the same
    mean and std), which OpenCV looks up twice as fast (0.3 against 0.6 ms at 640x384)."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, None, :, None], 3, axis=3)
    normalised = normalize_image(ramp, mean, std)[0, :, 0, :]  # (3, 256)
    quantised = np.clip(np.rint(normalised / np.float32(scale)) + zero_point, 0, 255)
    table = quantised.astype(np.uint8)
    return table[:1] if (table == table[:1]).all() else table.T[None]


#: the lookup table that changes nothing
IDENTITY_TABLE = np.arange(256, dtype=np.uint8)[None]


def quantized_blocks(rgb: np.ndarray, table: np.ndarray | None, channels_last: bool) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> the uint8 input of an INT8 detector: each value quantised by
    ``table`` (``quantization_table``; None where the quantisation leaves every value as it
    is), each 2x2 block of pixels as 12 channels in ONNX
    SpaceToDepth's order (row phase, column phase, channel), as (1, H/2, W/2, 12), or
    (1, 12, H/2, W/2) for a graph rewritten before 2026-12-07
    (``trainer.detector_graph.take_channels_last``).

    A block's top and bottom pixel pairs are 6 bytes each, 3 uint16 values (sides are
    multiples of 32): channels last, the blocks are the two rows of each pair of rows merged as
    3-channel uint16 images (0.15 ms at 640x384, where numpy's transposed copy takes 0.9 ms, and
    the channels-first copy 0.3 ms plus 0.4-0.65 ms for ONNX Runtime to move them back).
    """
    h, w = rgb.shape[:2]
    if table is None:
        quantised = rgb
    else:
        pixels = rgb.reshape(h, w * 3) if table.ndim == 2 else rgb  # one table: one channel
        quantised = cv2.LUT(pixels, table).reshape(h, w, 3)
    if not channels_last:
        blocks = quantised.reshape(h // 2, 2, w // 2, 2, 3).transpose(1, 3, 4, 0, 2)
        return blocks.reshape(1, 12, h // 2, w // 2)
    pairs = quantised.reshape(h, w * 3).view(np.uint16).reshape(h // 2, 2, w // 2, 3)
    return cv2.merge([pairs[:, 0], pairs[:, 1]]).view(np.uint8).reshape(1, h // 2, w // 2, 12)


#: the score logit below which a location is not decoded is this much under the threshold's, so
#: that ``postprocess`` decides on the sigmoid of the location's score, as before decoding moved
LOGIT_MARGIN = 1e-3


def decode_levels(
    maps: Sequence[np.ndarray], strides: Sequence[int], score_threshold: float
) -> np.ndarray:
    """The head's raw maps, one (1, 13, H/s, W/s) a level, -> (N, 13) rows of score, box x1 y1 x2
    y2 and corners TL TR BR BL in input pixels, for the locations scoring ``score_threshold`` or
    more, level by level, each row-major.

    Each location's point is its cell centre; the box is 4 distances from it (exponents of the
    raw values, in strides) and the corners are offsets from it (in strides): the numpy twin of
    ``trainer.models.detector.PlateDetector.decode``, which the training loss uses.
    """
    with np.errstate(divide="ignore"):
        floor = np.log(score_threshold) - np.log1p(-score_threshold) - LOGIT_MARGIN
    rows = [np.zeros((0, 13), np.float32)]
    for level, stride in zip(maps, strides):
        ys, xs = np.nonzero(level[0, 0] >= floor)
        if not len(ys):
            continue
        raw = level[0][:, ys, xs].T
        points = np.stack([xs + 0.5, ys + 0.5], 1).astype(np.float32) * stride
        dist = np.exp(np.clip(raw[:, 1:5], -6, 6)) * stride
        boxes = np.concatenate([points - dist[:, :2], points + dist[:, 2:]], 1)
        corners = np.tile(points, 4) + raw[:, 5:13] * stride
        scores = 1 / (1 + np.exp(-raw[:, :1]))
        rows.append(np.concatenate([scores, boxes, corners], 1))
    return np.concatenate(rows)


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


#: two kept boxes overlapping by at least this IoU, on one row, are parts of one plate
PART_MIN_IOU = 0.2
#: ... when their rows overlap by this much of the taller one's height
PART_MIN_ROW_OVERLAP = 0.8
#: ... and the weaker scores at least this share of the stronger: the halves of one plate score
#: alike, a weak box over part of a plate and what is beside it does not
PART_MIN_SCORE_RATIO = 0.5


def merge_plate_parts(dets: np.ndarray, min_width: float = 0.0) -> np.ndarray:
    """Join detections that are the left and right parts of one plate.

    A plate wider than the detector's receptive field (a close-up filling a 640x480 frame) comes
    out as two overlapping boxes, each about two thirds of it, that NMS keeps because they
    overlap too little; read apart they give two wrong texts. Distinct plates never overlap
    like that, side by side on one row. ``dets`` is (N, 13) after NMS, best first; a merged
    detection takes the outer box and the outer corners of both parts and the better score.

    Only parts that together span at least ``min_width`` input pixels (the widest anchor's
    width) are joined: a plate the widest anchor covers is boxed whole, and a weak second box
    on its row is then something beside it (a lamp, a sticker) that joining would swallow into
    the plate's box. A small square Spanish plate among the validation scenes was boxed twice
    its width that way, and missed. Nor is a part joined that scores under half of the other
    (``PART_MIN_SCORE_RATIO``): the still passes and the tracker's second pass keep boxes from
    0.1 and 0.25, and a Hong Kong taxi's plate (0.62) took in a 0.11 box over its right half and
    the sticker beside it, twice the plate's width, and was missed.
    """
    dets = dets.copy()
    alive = np.ones(len(dets), bool)
    for i in range(len(dets)):
        for j in range(i + 1, len(dets)):
            if (
                alive[i]
                and alive[j]
                and _parts_of_one_plate(dets[i, 1:5], dets[j, 1:5])
                and max(dets[i, 3], dets[j, 3]) - min(dets[i, 1], dets[j, 1]) >= min_width
                and dets[j, 0] >= PART_MIN_SCORE_RATIO * dets[i, 0]  # best first: j is weaker
            ):
                dets[i] = _joined(dets[i], dets[j])
                alive[j] = False
    return dets[alive]


def _parts_of_one_plate(a: np.ndarray, b: np.ndarray) -> bool:
    row = min(a[3], b[3]) - max(a[1], b[1])
    return (
        box_iou(a[None], b[None])[0, 0] >= PART_MIN_IOU
        and row >= PART_MIN_ROW_OVERLAP * max(a[3] - a[1], b[3] - b[1])
        and abs((a[0] + a[2]) - (b[0] + b[2])) > 0.25 * (max(a[2], b[2]) - min(a[0], b[0]))
    )


def _joined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    left, right = (a, b) if a[1] + a[3] < b[1] + b[3] else (b, a)
    lc, rc = left[5:13].reshape(4, 2), right[5:13].reshape(4, 2)
    corners = np.stack([lc[0], rc[1], rc[2], lc[3]])  # TL, TR, BR, BL
    box = [min(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), max(a[4], b[4])]
    return np.concatenate([[max(a[0], b[0])], box, corners.ravel()])


def widest_anchor(anchor_shape_in_strides: Sequence[float] | None, strides: Sequence[int]) -> float:
    """Width in input pixels of the largest anchor (the coarsest level's); 0 where the anchor
    shape is not known (a sidecar that does not say), so that any two parts are joined."""
    if not anchor_shape_in_strides:
        return 0.0
    return float(anchor_shape_in_strides[0] * max(strides))


def postprocess(
    raw: np.ndarray,
    lb: Letterbox,
    score_threshold: float,
    nms_iou: float,
    part_min_width: float = 0.0,
) -> list[Detection]:
    """(N, 13) decoded locations of one image (``decode_levels``) -> frame-space detections;
    ``part_min_width``: see ``merge_plate_parts``."""
    raw = raw[raw[:, 0] >= score_threshold]
    if not len(raw):
        return []
    dets = merge_plate_parts(raw[nms(raw[:, 1:5], raw[:, 0], nms_iou)], part_min_width)
    boxes = lb.to_frame(dets[:, 1:5])
    corners = lb.to_frame(dets[:, 5:13]).reshape(-1, 4, 2)
    return [Detection(b, c, float(s)) for b, c, s in zip(boxes, corners, dets[:, 0])]


#: each pass of ``Detector.detect_still`` keeps plates from this score, so that a plate one
#: pass scores 0.6 and the other 0.45 still has both scores to average
MIRROR_PASS_THRESHOLD = 0.1
#: a plate found by both passes overlaps itself by at least this IoU
MIRROR_MATCH_IOU = 0.5


def mirrored_back(detections: list[Detection], width: float) -> list[Detection]:
    """Plates found in the left-right mirror of an image ``width`` wide, in the image's own
    pixels: x turned back and the corners put back in TL, TR, BR, BL order."""
    out = []
    for d in detections:
        box = np.array([width - d.box[2], d.box[1], width - d.box[0], d.box[3]], np.float32)
        corners = d.corners[[1, 0, 3, 2]].copy()
        corners[:, 0] = width - corners[:, 0]
        out.append(Detection(box, corners, d.score))
    return out


def agreed(
    direct: list[Detection], mirror: list[Detection], score_threshold: float, nms_iou: float
) -> list[Detection]:
    """The plates of two passes over one image, each scored by the mean of both passes' scores
    (0 for a pass that missed it), those at ``score_threshold`` or above, best first. A plate
    both passes found has the mean of their boxes and corners."""
    ious = box_iou([d.box for d in direct], [d.box for d in mirror])
    pairs, used_d, used_m = [], set(), set()
    for i, j in zip(*np.unravel_index(np.argsort(-ious, axis=None), ious.shape)):
        if ious[i, j] < MIRROR_MATCH_IOU:
            break
        if i not in used_d and j not in used_m:
            used_d.add(i)
            used_m.add(j)
            a, b = direct[i], mirror[j]
            pairs.append(
                Detection((a.box + b.box) / 2, (a.corners + b.corners) / 2, (a.score + b.score) / 2)
            )
    singles = [d for i, d in enumerate(direct) if i not in used_d]
    singles += [d for j, d in enumerate(mirror) if j not in used_m]
    found = pairs + [Detection(d.box, d.corners, d.score / 2) for d in singles]
    found = [d for d in found if d.score >= score_threshold]
    if not found:
        return []
    keep = nms(np.stack([d.box for d in found]), np.array([d.score for d in found]), nms_iou)
    return [found[k] for k in keep]


class Detector:
    """Finds plates in BGR frames; thresholds and input size come from the sidecar unless set."""

    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        self.spec = load_sidecar(self.config.model)
        self._check_input_size()
        self.session = open_session(self.config.model, self.config.threads, self.config.spinning)
        self.input_name = self.session.get_inputs()[0].name
        self.score_threshold = self.config.score_threshold or self.spec["score_threshold"]
        self.nms_iou = self.config.nms_iou or self.spec["nms_iou"]
        self.strides: list[int] = self.spec["strides"]
        self.widest_anchor = widest_anchor(self.spec.get("anchor_shape_in_strides"), self.strides)
        self.quantized = self.session.get_inputs()[0].type == "tensor(uint8)"
        self.table = self._quantization_table() if self.quantized else None
        self.channels_last = self.session.get_inputs()[0].shape[-1] == 12
        self.slow_source = False  # ``pace``
        self._input_sizes: dict[tuple[tuple[int, int], bool], tuple[int, int]] = {}

    def _check_input_size(self) -> None:
        """A fixed input must be a multiple of the model's coarsest stride on each side, or the
        neck's levels stop matching and ONNX Runtime fails mid-run with a broadcast error."""
        multiple = self.spec.get("input_multiple", 32)
        if self.config.input_size and any(side % multiple for side in self.config.input_size):
            width, height = self.config.input_size
            raise ConfigError(
                f"[detector] input_size {width}x{height}: each side must be a multiple of "
                f"{multiple} for this model"
            )

    def _quantization_table(self) -> np.ndarray | None:
        """An INT8 graph takes its image quantised and in 2x2 blocks (``quantized_blocks``), with
        the quantisation its sidecar gives: a lookup table, or None where the quantised values
        are the pixels' own (``trainer.detector_graph.take_raw_pixels``: 0.3-0.4 ms saved at
        640x384)."""
        quantization = self.spec.get("input_quantization")
        if not quantization:
            raise ModelError(
                f"{self.config.model}: the model takes a quantised image, "
                "but its sidecar has no input_quantization"
            )
        table = quantization_table(
            self.spec["mean"], self.spec["std"], quantization["scale"], quantization["zero_point"]
        )
        return None if np.array_equal(table, IDENTITY_TABLE) else table

    def input_size(self, frame_wh: tuple[int, int]) -> tuple[int, int]:
        if self.config.input_size:
            return tuple(self.config.input_size)
        key = (frame_wh, self.slow_source)
        if key not in self._input_sizes:
            self._input_sizes[key] = input_size_for(frame_wh, self._max_side(frame_wh))
        return self._input_sizes[key]

    def _max_side(self, frame_wh: tuple[int, int]) -> int:
        side = self.config.max_side or self.spec["max_side"]
        if self.slow_source:  # larger, where the frame has the pixels
            side = max(side, min(self.config.slow_max_side, max(frame_wh)))
        return side

    def pace(self, fps: float) -> None:
        """Set the frame rate of the source detected next: a slow one's frames are searched at
        a larger input (``DetectorConfig.slow_fps``), since its cars pass in a frame or two."""
        self.slow_source = fps <= self.config.slow_fps

    def search_area(self, frame_wh: tuple[int, int]) -> tuple[int, int, int, int]:
        """The part of a frame searched for plates, (x1, y1, x2, y2) in even pixels: the
        configured ``roi`` (fractions of the frame), or the whole frame."""
        w, h = frame_wh
        if self.config.roi is None:
            return 0, 0, w, h
        left, top, right, bottom = self.config.roi
        return (
            2 * int(left * w / 2),
            2 * int(top * h / 2),
            min(w, 2 * math.ceil(right * w / 2)),
            min(h, 2 * math.ceil(bottom * h / 2)),
        )

    def detect(
        self, frame_bgr: np.ndarray, score_threshold: float | None = None
    ) -> list[Detection]:
        return self.detect_rgb(*self._letterboxed(frame_bgr), score_threshold)

    def _letterboxed(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The search area of a BGR frame as the model's RGB input, and its mapping back."""
        h, w = frame_bgr.shape[:2]
        x1, y1, x2, y2 = self.search_area((w, h))
        rgb, lb = letterboxed_rgb(frame_bgr[y1:y2, x1:x2], self.input_size((x2 - x1, y2 - y1)))
        return rgb, lb.of_crop_at(x1, y1)

    def detect_still(self, image_bgr: np.ndarray) -> list[Detection]:
        """A photo's plates, found in it and in its mirror image, each scored by the mean of
        the two passes (``agreed``). A video sees each plate in many frames; a photo has one
        chance, and the mirror is a second look at twice the cost: on the validation scenes
        10 false boxes instead of 14 and 256 of 276 plates found instead of 254, CCPD corners off
        by 2.0 % of the plate instead of 2.4 % (``platestream-train eval --no-mirror``)."""
        rgb, lb = self._letterboxed(image_bgr)
        # the input mirrored is the image mirrored: x in the input is (width - x) in the mirror,
        # so in the frame's pixels a point and its mirror image add up to this
        span = (rgb.shape[1] - 2 * lb.pad_x) / lb.scale
        mirror = self.detect_rgb(np.ascontiguousarray(rgb[:, ::-1]), lb, MIRROR_PASS_THRESHOLD)
        return agreed(
            self.detect_rgb(rgb, lb, MIRROR_PASS_THRESHOLD),
            mirrored_back(mirror, span),
            self.score_threshold,
            self.nms_iou,
        )

    def detect_frame(self, frame: Frame) -> list[Detection]:
        """A decoded frame's plates, from its I420 planes where it has them; a dark frame's
        from two looks, as it is and brightened (``DetectorConfig.dark_frame``). Darkness is
        judged and lifted on the model's input, where the search area is a few hundred
        thousand pixels: the ``roi`` alone decides, and the frame itself is never copied."""
        if frame.i420 is None:
            rgb, lb = self._letterboxed(frame.bgr)
            area = self.search_area((frame.bgr.shape[1], frame.bgr.shape[0]))
        else:
            rgb, lb = self._letterboxed_i420(frame.i420)
            area = self.search_area((frame.i420.shape[1], frame.i420.shape[0] * 2 // 3))
        found = self.detect_rgb(rgb, lb)
        x1, y1, x2, y2 = lb.to_input(np.array(area, np.float32)).round().astype(int)
        picture = rgb[y1:y2, x1:x2]  # without the letterbox's grey
        curve = self.dark_lift(picture)
        if curve is None:
            return found
        lifted = rgb.copy()
        lifted[y1:y2, x1:x2] = cv2.LUT(picture, curve)
        found += self.detect_rgb(lifted, lb)
        if not found:
            return found
        scores = np.array([d.score for d in found])
        return [found[k] for k in nms(np.stack([d.box for d in found]), scores, self.nms_iou)]

    def dark_lift(self, pixels: np.ndarray) -> np.ndarray | None:
        """The gamma curve (a 256-entry LUT) that brings the mean of ``pixels`` (the model
        input's search area, or any picture) to ``dark_lift_to``, or None for one bright
        enough for one look."""
        dark, target = self.config.dark_frame, self.config.dark_lift_to
        if not dark:
            return None
        mean = float(pixels[::8, ::8].mean()) / 255  # every 64th pixel: plenty for a mean
        if mean >= dark:
            return None
        gamma = np.log(target) / np.log(max(mean, 1 / 255))
        return (np.linspace(0.0, 1.0, 256) ** gamma * 255).round().astype(np.uint8)

    def _letterboxed_i420(self, planes: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """``_letterboxed`` of a decoded frame's I420 planes."""
        x1, y1, x2, y2 = area = self.search_area((planes.shape[1], planes.shape[0] * 2 // 3))
        rgb, lb = letterboxed_rgb_i420(crop_i420(planes, area), self.input_size((x2 - x1, y2 - y1)))
        return rgb, lb.of_crop_at(x1, y1)

    def detect_rgb(
        self, rgb: np.ndarray, lb: Letterbox, score_threshold: float | None = None
    ) -> list[Detection]:
        """The plates of a letterboxed RGB image, mapped back to the frame by ``lb``."""
        threshold = self.score_threshold if score_threshold is None else score_threshold
        if not self.quantized:
            batch = normalize_image(rgb[None], self.spec["mean"], self.spec["std"])
        else:
            batch = quantized_blocks(rgb, self.table, self.channels_last)
        maps = self.session.run(None, {self.input_name: batch})
        decoded = decode_levels(maps, self.strides, threshold)
        return postprocess(decoded, lb, threshold, self.nms_iou, self.widest_anchor)
