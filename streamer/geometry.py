"""Plate geometry shared by the runtime and the trainer.

Everything here must give the same answer at training and at inference time (the reference
implementation letterboxed in training but squashed at inference), so there is exactly one copy,
imported by both sides. Points are float arrays in pixel coordinates, corners always in the order
top-left, top-right, bottom-right, bottom-left of the plate as it reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LETTERBOX_FILL = 114
#: a picture shrunk this many times or more is averaged over each output pixel's area
#: (``shrink``) instead of sampled bilinearly
AREA_SHRINK = 4.0


@dataclass(frozen=True)
class Letterbox:
    """How a frame was mapped into the model input: ``input = frame * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Map points (..., 2) or boxes (..., 4) from model-input pixels back to the frame."""
        pts = np.asarray(points, dtype=np.float32).copy()
        pts[..., 0::2] = (pts[..., 0::2] - self.pad_x) / self.scale
        pts[..., 1::2] = (pts[..., 1::2] - self.pad_y) / self.scale
        return pts

    def of_crop_at(self, x: float, y: float) -> Letterbox:
        """This mapping of a part of a frame cut out at (x, y), as the whole frame's."""
        return Letterbox(self.scale, self.pad_x - x * self.scale, self.pad_y - y * self.scale)

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Map points (..., 2) or boxes (..., 4) from the frame into model-input pixels."""
        pts = np.asarray(points, dtype=np.float32).copy()
        pts[..., 0::2] = pts[..., 0::2] * self.scale + self.pad_x
        pts[..., 1::2] = pts[..., 1::2] * self.scale + self.pad_y
        return pts


def letterbox_params(frame_wh: tuple[int, int], input_wh: tuple[int, int]) -> Letterbox:
    """Scale that fits the frame inside the input keeping its aspect, padding centred."""
    fw, fh = frame_wh
    iw, ih = input_wh
    scale = min(iw / fw, ih / fh)
    new_w, new_h = round(fw * scale), round(fh * scale)
    return Letterbox(scale=scale, pad_x=(iw - new_w) // 2, pad_y=(ih - new_h) // 2)


def letterbox(image: np.ndarray, input_wh: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio and pad to ``input_wh`` with grey; returns the image and map."""
    h, w = image.shape[:2]
    lb = letterbox_params((w, h), input_wh)
    new_w, new_h = round(w * lb.scale), round(h * lb.scale)
    return pad_letterbox(shrink(image, (new_w, new_h)), input_wh, lb), lb


def shrink(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Resize for the detector's input: bilinear, as its training tiles are resampled
    (cv2.warpAffine), unless the picture shrinks ``AREA_SHRINK`` times or more, as a 4K frame
    does to 640 px. Bilinear sampling then reads 2x2 of each 4x4 or larger block, and the fine
    detail of a small plate aliases. CCPD photos tiled k x k (sharp real plates made small;
    train split, two looks), plates found sampled / averaged: 4x4 (7.2x down, plates ~57 px at
    the input) 290 / 306 of 400, 5x5 (9.1x, ~43 px) 181 / 204, 6x6 (10.9x, ~32 px) 74 / 87;
    val 41 / 44 of 64 and 22 / 24 of 50; at 3.6x down none changed. (The gate sample's
    synthetic plate tiled 5x5, 28 px: 11 / 6 of 25, its hard rendered edges survive sampling.)
    Averaging costs 3.7 against 0.4 ms for a 4K frame's planes and 1.4 against 0.4 at 1080p,
    which 3x down does not repay."""
    shrinks = is_area_shrink(image.shape[1], size_wh[0])
    return cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR)


def is_area_shrink(from_width: int, to_width: int) -> bool:
    """Whether ``shrink`` averages a picture this wide to that width (the trainer's tiles
    follow the same rule)."""
    return from_width >= AREA_SHRINK * to_width


def pad_letterbox(resized: np.ndarray, input_wh: tuple[int, int], lb: Letterbox) -> np.ndarray:
    """Place an image already scaled by ``lb.scale`` on the grey input canvas at ``lb``'s pad."""
    out = np.full((input_wh[1], input_wh[0], 3), LETTERBOX_FILL, dtype=np.uint8)
    px, py = int(lb.pad_x), int(lb.pad_y)
    out[py : py + resized.shape[0], px : px + resized.shape[1]] = resized
    return out


def order_corners(corners: np.ndarray) -> np.ndarray:
    """Return 4 points as top-left, top-right, bottom-right, bottom-left.

    Labels come in several orders (CCPD starts at bottom-right); the recognizer needs one.
    The two left-most points are the left side; of each side, the upper one comes first.
    """
    pts = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.stack([tl, tr, br, bl]).astype(np.float32)


def corners_to_box(corners: np.ndarray) -> np.ndarray:
    """Axis-aligned box [x1, y1, x2, y2] enclosing the corners."""
    pts = np.asarray(corners, dtype=np.float32).reshape(-1, 2)
    return np.array([*pts.min(0), *pts.max(0)], dtype=np.float32)


def box_to_corners(box: np.ndarray) -> np.ndarray:
    """Corners of an axis-aligned box, for labels that only give a box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)


def plate_width(corners: np.ndarray) -> float:
    """Mean length of the top and bottom edges: the scale corner errors are judged against."""
    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    return float((np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2)


def rectify(image: np.ndarray, corners: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """Warp the quadrilateral plate to an upright ``out_wh`` image (perspective, not a box crop)."""
    src = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    w, h = out_wh
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def i420_planes(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U and V of an (H*3/2, W) I420 array (even sides): full, half and half size."""
    h, w = planes.shape[0] * 2 // 3, planes.shape[1]
    chroma = planes[h:].reshape(2, h // 2, w // 2)
    return planes[:h], chroma[0], chroma[1]


def crop_i420(
    planes: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U and V of the part (x1, y1, x2, y2) of an I420 frame, all four even: views into
    ``planes``, so a search area costs no copy of it (OpenCV scales strided views as they are)."""
    x1, y1, x2, y2 = box
    y, u, v = i420_planes(planes)
    return (
        y[y1:y2, x1:x2],
        u[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2],
        v[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2],
    )


def from_i420(y: np.ndarray, u: np.ndarray, v: np.ndarray, code: int) -> np.ndarray:
    """Three planes (chroma at half size) back into one picture, BGR or RGB by ``code``."""
    h, w = y.shape
    planes = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)
    return cv2.cvtColor(planes, code)


def rectify_i420(planes: np.ndarray, corners: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """``rectify`` of a decoded I420 frame without converting the whole frame to BGR first:
    each plane is warped at its own scale and only the plate is converted (within 2 levels of
    rectifying the converted frame, a 1080p frame's conversion saved)."""
    w, h = out_wh
    y, u, v = i420_planes(planes)
    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    return from_i420(
        rectify(y, c, (w, h)),
        rectify(u, c / 2, (w // 2, h // 2)),
        rectify(v, c / 2, (w // 2, h // 2)),
        cv2.COLOR_YUV2BGR_I420,
    )


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes a (N, 4) and b (M, 4), [x1, y1, x2, y2]."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
