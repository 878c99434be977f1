"""Synthetic detector scenes and recognizer plate samples with exact corner labels.

A plate is placed with a real 3-D pose: its plane (and the car face around it) is rotated and
moved in front of a pinhole camera, and one plane homography draws both, so the perspective of
the plate, its car and its label corners always agree. Scenes use the same label structure as
the real readers (``text``, ``box``, ``corners`` TL TR BR BL, ``region``) and every function takes
the caller's ``numpy.random.Generator``, so a seed reproduces a sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.geometry import corners_to_box
from trainer.synth.backgrounds import fit_background, procedural_background, textured, value_noise
from trainer.synth.effects import camera, glare, night
from trainer.synth.plates import Plate, render_plate
from trainer.synth.vehicles import CarFace, car_face

PLATE_PX_PER_MM = 1.0  # plates are rendered at this scale and shrunk to their size in the scene
COUNT_WEIGHTS = np.array([0.05, 0.5, 0.25, 0.12, 0.08])  # scenes with 0, 1, 2, 3, 4 plates


@dataclass(frozen=True)
class Pose:
    """Where a plate plane sits: rotation (degrees), its distance in plate widths (small means
    strong perspective), its width in the image and the image point of its centre."""

    yaw: float
    pitch: float
    roll: float
    distance: float
    width_px: float
    centre: tuple[float, float] = (0.0, 0.0)

    def with_centre(self, x: float, y: float) -> Pose:
        return Pose(self.yaw, self.pitch, self.roll, self.distance, self.width_px, (x, y))


def random_pose(rng: np.random.Generator, width_px: float, severity: float = 1.0) -> Pose:
    """Mostly frontal plates, with the long tail of strongly turned ones real cameras see."""
    s = severity
    return Pose(
        yaw=float(np.clip(rng.normal(0, 18 * s), -55, 55)),
        pitch=float(np.clip(rng.normal(0, 10 * s), -35, 35)),
        roll=float(np.clip(rng.normal(0, 4 * s), -15, 15)),
        distance=float(np.exp(rng.uniform(np.log(3), np.log(25)))),
        width_px=width_px,
    )


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def plane_homography(pose: Pose, plate_w_mm: float) -> np.ndarray:
    """Homography from the plate plane (mm, origin at the plate centre) to image pixels.

    The camera's focal length is chosen so that the plate is ``pose.width_px`` wide.
    """
    depth = pose.distance * plate_w_mm
    f = pose.width_px * pose.distance
    rot = _rotation(pose.yaw, pose.pitch, pose.roll)
    k = np.array([[f, 0, pose.centre[0]], [0, f, pose.centre[1]], [0, 0, 1]])
    return k @ np.column_stack([rot[:, 0], rot[:, 1], [0, 0, depth]])


def plate_size_mm(plate: Plate) -> tuple[float, float]:
    h, w = plate.image.shape[:2]
    return w / PLATE_PX_PER_MM, h / PLATE_PX_PER_MM


def plate_quad(pose: Pose, plate: Plate) -> np.ndarray:
    """The image corners (TL, TR, BR, BL) of a plate seen with ``pose``."""
    h = plane_homography(pose, plate_size_mm(plate)[0]) @ _plate_to_plane(plate)
    return project(h, image_corners(plate.image))


def _plate_to_plane(plate: Plate) -> np.ndarray:
    h, w = plate.image.shape[:2]
    s = 1 / PLATE_PX_PER_MM
    return np.array([[s, 0, -w * s / 2], [0, s, -h * s / 2], [0, 0, 1]])


def _face_to_plane(face: CarFace) -> np.ndarray:
    x, y, w, h = face.plate_mm
    s = 1 / face.px_per_mm
    return np.array([[s, 0, -(x + w / 2)], [0, s, -(y + h / 2)], [0, 0, 1]])


def project(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float64).reshape(-1, 2)
    q = np.column_stack([p, np.ones(len(p))]) @ h.T
    return (q[:, :2] / q[:, 2:3]).astype(np.float32)


def _depths(h_plane: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """The homogeneous w of plane points: positive means in front of the camera."""
    p = np.asarray(points_mm, np.float64).reshape(-1, 2)
    return np.column_stack([p, np.ones(len(p))]) @ h_plane[2]


def image_corners(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)


def warp_onto(scene: np.ndarray, image: np.ndarray, alpha: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Alpha-blend ``image`` warped by ``h`` into ``scene`` in place; returns the coverage mask.

    Only the destination box is warped, and images far larger than their footprint are shrunk
    first (area filtering), so that a 500 px plate drawn 20 px wide is smooth, not aliased.
    """
    quad = project(h, image_corners(image))
    x1, y1 = np.floor(quad.min(0)).astype(int)
    x2, y2 = np.ceil(quad.max(0)).astype(int) + 1
    sh, sw = scene.shape[:2]
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, sw), min(y2, sh)
    cover = np.zeros((sh, sw), np.float32)
    if x2 <= x1 or y2 <= y1:
        return cover
    shrink = min(1.0, 1.5 * max(x2 - x1, y2 - y1) / max(image.shape[:2]))
    if shrink < 0.7:
        size = (max(2, round(image.shape[1] * shrink)), max(2, round(image.shape[0] * shrink)))
        sx, sy = image.shape[1] / size[0], image.shape[0] / size[1]
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        h = h @ np.diag([sx, sy, 1.0])
    m = np.array([[1, 0, -x1], [0, 1, -y1], [0, 0, 1]]) @ h
    dsize = (x2 - x1, y2 - y1)
    warped = cv2.warpPerspective(image, m, dsize, flags=cv2.INTER_LINEAR)
    a = cv2.warpPerspective(alpha, m, dsize, flags=cv2.INTER_LINEAR)[..., None]
    roi = scene[y1:y2, x1:x2].astype(np.float32)
    scene[y1:y2, x1:x2] = (roi * (1 - a) + warped.astype(np.float32) * a).astype(np.uint8)
    cover[y1:y2, x1:x2] = a[..., 0]
    return cover


@dataclass
class Placed:
    """A plate drawn into a scene, with what later effects need to know about it."""

    plate: Plate
    corners: np.ndarray
    lamps: list[tuple[float, float, float]]
    cover: np.ndarray  # how much of each pixel the plate covers

    def label(self) -> dict:
        return {
            "text": self.plate.text,
            "box": corners_to_box(self.corners),
            "corners": self.corners.astype(np.float32),
            "region": self.plate.region,
            "style": self.plate.style,
        }


def draw_plate_on_car(
    scene: np.ndarray, plate: Plate, pose: Pose, face: CarFace | None
) -> tuple[np.ndarray, list[tuple[float, float, float]], np.ndarray]:
    """Draw the car face (if any) and its plate with one pose; returns corners, lamps, coverage."""
    plate_w_mm = plate_size_mm(plate)[0]
    plane = plane_homography(pose, plate_w_mm)
    lamps = []
    if face is not None:
        h_face = plane @ _face_to_plane(face)
        corners_mm = project(_face_to_plane(face), image_corners(face.image))
        if (_depths(plane, corners_mm) > 0.2 * _depths(plane, [[0, 0]])[0]).all():
            warp_onto(scene, face.image, face.alpha, h_face)
            radius = pose.width_px * 90 / plate_w_mm
            to_plane = _face_to_plane(face)
            centres = project(plane @ to_plane, np.array(face.lamps_mm) * face.px_per_mm)
            lamps = [(float(x), float(y), radius) for x, y in centres]
    h_plate = plane @ _plate_to_plane(plate)
    cover = warp_onto(scene, plate.image, plate.alpha, h_plate)
    return project(h_plate, image_corners(plate.image)), lamps, cover


def random_face(rng: np.random.Generator, plate: Plate, width_px: float) -> CarFace:
    """A car face drawn at about its size on screen (never finer than the plate)."""
    w_mm, h_mm = plate_size_mm(plate)
    return car_face(rng, (w_mm, h_mm), min(PLATE_PX_PER_MM, 1.3 * width_px / w_mm), badges=True)


def footprint(pose: Pose, plate: Plate, face: CarFace | None, size: tuple[int, int]) -> np.ndarray:
    """Pixels a placed car (or bare plate) covers: farther plates must stay out of them."""
    shape = face.image if face is not None else plate.image
    to_plane = _face_to_plane(face) if face is not None else _plate_to_plane(plate)
    quad = project(plane_homography(pose, plate_size_mm(plate)[0]) @ to_plane, image_corners(shape))
    mask = np.zeros((size[1], size[0]), np.uint8)
    if (np.abs(quad) < 1e5).all():
        cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
    return mask.astype(bool)


def _position(
    rng: np.random.Generator, pose: Pose, plate: Plate, size: tuple[int, int], taken: np.ndarray
) -> Pose | None:
    """A centre where the whole plate is inside the image and clear of nearer cars."""
    w, h = size
    quad0 = plate_quad(pose, plate)
    lo, hi = -quad0.min(0) + 2, np.array([w, h]) - quad0.max(0) - 2
    if (hi <= lo).any():
        return None
    for _ in range(20):
        cx, cy = rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1])
        quad = quad0 + np.array([cx, cy], np.float32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
        if not (taken & mask.astype(bool)).any():
            return pose.with_centre(cx, cy)
    return None


def _occlude(scene: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> None:
    """A pole, tow bar or branch across part of the plate (at most about a quarter of it)."""
    c = corners.astype(np.float64)
    t = rng.uniform(0.0, 1.0)
    width = rng.uniform(0.06, 0.25)
    top = c[0] + (c[1] - c[0]) * t
    bottom = c[3] + (c[2] - c[3]) * (t + rng.uniform(-0.2, 0.2))
    along = (c[1] - c[0]) * width / 2
    ext = (bottom - top) * 0.6
    pts = np.array(
        [top - along - ext, top + along - ext, bottom + along + ext, bottom - along + ext]
    )
    color = tuple(int(v) for v in rng.integers(10, 200, 3))
    cv2.fillConvexPoly(scene, np.round(pts * 16).astype(np.int32), color, cv2.LINE_AA, 4)


def _night_with_lit_plates(
    scene: np.ndarray, placed: list[Placed], rng: np.random.Generator
) -> np.ndarray:
    """Plates are lit and retro-reflective: they stay far brighter than the scene at night."""
    lamps = [lamp for p in placed for lamp in p.lamps]
    dark = night(scene, rng, lamps)
    if not placed:
        return dark
    cover = np.clip(sum(p.cover for p in placed), 0, 1)[..., None]
    lit = scene.astype(np.float32) * rng.uniform(0.45, 0.85)
    return (dark * (1 - cover) + lit * cover).astype(np.uint8)


def random_scene(
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    background: np.ndarray | None = None,
    regions: tuple[str, ...] | list[str] | None = None,
    max_plates: int = 4,
    strength: float = 1.0,
) -> tuple[np.ndarray, list[dict]]:
    """A scene of ``size`` (w, h) with 0..``max_plates`` plates on cars, and their labels.

    ``background`` may be a real photo (BGR); plates already in it are not labelled, so pass
    plate-free images or merge their labels. Plates range from 20 px wide to half the image.
    """
    w, h = size
    scene = (
        fit_background(background, size, rng)
        if background is not None
        else procedural_background(rng, size)
    )
    weights = COUNT_WEIGHTS[: max_plates + 1]
    count = int(rng.choice(len(weights), p=weights / weights.sum()))
    widths = np.sort(np.exp(rng.uniform(np.log(20), np.log(max(21, 0.5 * w)), count)))[::-1]
    taken = np.zeros((h, w), bool)
    plans = []
    for width in widths:  # nearest (widest) first, so farther plates avoid nearer cars
        plate = render_plate(rng, regions, px_per_mm=PLATE_PX_PER_MM)
        pose = _position(rng, random_pose(rng, float(width)), plate, size, taken)
        if pose is None:
            continue
        face = random_face(rng, plate, width) if rng.random() < 0.85 else None
        plans.append((plate, pose, face))
        taken |= footprint(pose, plate, face, size)
    placed = []
    for plate, pose, face in reversed(plans):  # farthest first
        corners, lamps, cover = draw_plate_on_car(scene, plate, pose, face)
        placed.append(Placed(plate, corners, lamps, cover))
    for p in placed:
        if rng.random() < 0.12 * strength:
            _occlude(scene, p.corners, rng)
        if rng.random() < 0.12 * strength:
            scene = glare(scene, rng, tuple(corners_to_box(p.corners)))
    if rng.random() < 0.15 * strength:
        scene = _night_with_lit_plates(scene, placed, rng)
    scene = camera(scene, rng, strength)
    return scene, [p.label() for p in placed]


def random_plate_sample(
    rng: np.random.Generator,
    regions: tuple[str, ...] | list[str] | None = None,
    strength: float = 0.6,
) -> tuple[np.ndarray, np.ndarray, str]:
    """One plate in a small context image: (context BGR, corners (4, 2) TL TR BR BL, text).

    The plate is 40-260 px wide with a mild pose, on a car face or a textured surface, with the
    camera's blur and noise; the recognizer's trainer crops and re-rectifies it with its own
    corner jitter, as it does for real plates. The recognizer reads one line, so the plate is
    never a two-row one.
    """
    plate = render_plate(rng, regions, px_per_mm=PLATE_PX_PER_MM, one_row=True)
    width = float(np.exp(rng.uniform(np.log(40), np.log(260))))
    pose = random_pose(rng, width, severity=0.6)
    quad = plate_quad(pose, plate)
    margin = np.array([0.35, 0.7]) * (quad.max(0) - quad.min(0)).max() * rng.uniform(0.6, 1.2, 2)
    size = np.ceil(quad.max(0) - quad.min(0) + 2 * margin).astype(int)
    pose = pose.with_centre(*(margin - quad.min(0)))
    base = (rng.uniform(40, 220, 3) * np.ones((size[1], size[0], 3))).astype(np.uint8)
    context = textured(base, rng, rng.uniform(0.05, 0.2))
    face = random_face(rng, plate, width) if rng.random() < 0.8 else None
    corners, lamps, cover = draw_plate_on_car(context, plate, pose, face)
    if rng.random() < 0.1:
        context = glare(context, rng, tuple(corners_to_box(corners)))
    if rng.random() < 0.08:
        context = _night_with_lit_plates(context, [Placed(plate, corners, lamps, cover)], rng)
    if rng.random() < 0.3:
        shade = 1 + 0.25 * value_noise(rng, (size[0], size[1]), 3)[..., None]
        context = np.clip(context * shade, 0, 255).astype(np.uint8)
    return camera(context, rng, strength), corners, plate.text
