"""A road seen by a fixed camera: the camera model, the static street and 3-D car boxes.

Synthetic videos need plates whose size, position and perspective change the way a real camera
sees them: small and high in the frame far away, large and low near the camera. Everything here
is placed in metres on a world frame (X right, Y up, Z along the road away from the camera, the
ground at Y = 0) and projected by one pinhole camera, so the ground truth corners come from the
same projection that draws the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from trainer.synth.backgrounds import textured
from trainer.synth.scenes import image_corners, warp_onto
from trainer.synth.vehicles import CarFace

PLATE_HEIGHT_M = 0.45  # typical height of a plate's centre above the road
WALL_COLORS = (
    (170, 190, 210),
    (60, 80, 150),
    (200, 200, 200),
    (120, 130, 140),
    (150, 170, 180),
    (90, 110, 160),
    (225, 230, 235),
)  # BGR: render, brick, concrete


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    focal: float  # pixels
    height_m: float  # above the road
    pitch: float  # radians, positive looking down

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) to camera coordinates (x right, y down, z forward)."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        x, yd, z = p[:, 0], p[:, 1] - self.height_m, p[:, 2]
        s, c = np.sin(self.pitch), np.cos(self.pitch)
        return np.column_stack([x, -yd * c - z * s, z * c - yd * s])

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) to pixels (N, 2); callers keep points in front of the camera."""
        q = self.to_camera(points)
        z = np.maximum(q[:, 2], 1e-3)
        u = self.width / 2 + self.focal * q[:, 0] / z
        v = self.height / 2 + self.focal * q[:, 1] / z
        return np.column_stack([u, v]).astype(np.float32)

    def depth(self, points: np.ndarray) -> np.ndarray:
        return self.to_camera(points)[:, 2]

    def horizon(self) -> float:
        """Image row of the horizon (may be above the frame when looking down steeply)."""
        return self.height / 2 - self.focal * np.tan(self.pitch)

    def distance_at_depth(self, depth: float, y: float = PLATE_HEIGHT_M) -> float:
        """Distance along the road at which a point of height ``y`` is ``depth`` from the camera
        along its axis: where a plate has a given width in the image."""
        return (depth - (self.height_m - y) * np.sin(self.pitch)) / np.cos(self.pitch)

    def ground_distance(self, row: float, y: float = 0.0) -> float:
        """Distance along the road at which height ``y`` is seen at image ``row``."""
        angle = self.pitch + np.arctan((row - self.height / 2) / self.focal)
        return (self.height_m - y) / np.tan(angle) if angle > 1e-3 else np.inf


def camera_for_plates(
    width: int,
    height: int,
    plate_w_m: float,
    plate_px: float,
    height_m: float,
    hfov_deg: float,
    row: float = 0.9,
) -> Camera:
    """Aim a camera so that a plate ``plate_w_m`` wide is ``plate_px`` wide when it is seen at
    ``row`` (a fraction of the frame height): near the bottom for passing traffic, so that plates
    are readable before they leave the picture; higher up for a car that stops in view.

    The camera is lowered when it would otherwise have to look almost straight down.
    """
    focal = width / 2 / np.tan(np.radians(hfov_deg) / 2)
    below_axis = np.arctan((row - 0.5) * height / focal)
    depth = focal * plate_w_m / plate_px  # along the optical axis
    distance = depth / np.cos(below_axis)  # from the camera to the plate
    drop = min(height_m - PLATE_HEIGHT_M, 0.7 * distance)
    pitch = np.arcsin(drop / distance) - below_axis
    return Camera(width, height, float(focal), PLATE_HEIGHT_M + drop, float(pitch))


# ---------------------------------------------------------------- the static street


def _fill(img: np.ndarray, cam: Camera, quad_world, color) -> None:
    pts = cam.project(quad_world)
    if (cam.depth(quad_world) <= 0.05).any() or not np.isfinite(pts).all():
        return
    cv2.fillPoly(img, [np.round(pts * 4).astype(np.int32)], color, cv2.LINE_AA, 2)


def _ground_quad(x1: float, x2: float, z1: float, z2: float, y: float = 0.0) -> np.ndarray:
    return np.array([[x1, y, z1], [x2, y, z1], [x2, y, z2], [x1, y, z2]])


def near_distance(cam: Camera) -> float:
    """A road distance just below the frame's bottom edge, where drawing the ground starts."""
    return max(0.5, 0.8 * cam.ground_distance(cam.height))


def draw_street(
    cam: Camera, rng: np.random.Generator, lanes: tuple[float, ...], lane_width: float
) -> np.ndarray:
    """Sky, buildings, trees and a road with the given lane centres, as the camera sees them."""
    w, h = cam.width, cam.height
    img = np.zeros((h, w, 3), np.uint8)
    horizon = int(np.clip(cam.horizon(), 0, h))
    sky_top, sky_low = np.array([235, 200, 150]), np.array([245, 235, 225])
    t = np.linspace(0, 1, max(horizon, 1))[:, None, None]
    img[:horizon] = (sky_top * (1 - t) + sky_low * t).astype(np.uint8)
    img[horizon:] = (90, 120, 110)  # verge
    z0, far = near_distance(cam), 400.0
    half = max(abs(x) for x in lanes) + lane_width / 2
    for side in (-1, 1):
        _fill(img, cam, _ground_quad(side * half, side * (half + 3.5), z0, far), (150, 155, 160))
    _fill(
        img,
        cam,
        _ground_quad(-half, half, z0, far),
        tuple(int(v) for v in rng.integers(70, 100, 3)),
    )
    edges = sorted({round(x + s * lane_width / 2, 3) for x in lanes for s in (-1, 1)})
    for x in edges:
        outer = x in (edges[0], edges[-1])
        step, dash = (far, far) if outer else (9.0, 3.0)
        for z in np.arange(z0, far, step):
            _fill(
                img, cam, _ground_quad(x - 0.07, x + 0.07, z, min(z + dash, far)), (215, 215, 215)
            )
    for side in (-1, 1):
        _draw_buildings(img, cam, rng, side * (half + 3.5 + rng.uniform(0.5, 4)))
        _draw_trees(img, cam, rng, side * (half + 1.5))
    return textured(img, rng, 0.06)


def _draw_buildings(img: np.ndarray, cam: Camera, rng: np.random.Generator, x: float) -> None:
    z = 25.0
    while z < 250:
        length, height = rng.uniform(12, 35), rng.uniform(6, 30)
        zmin = max(z, (height - cam.height_m) * np.tan(max(cam.pitch, 0)) * 1.5 + 2)
        wall = WALL_COLORS[rng.integers(len(WALL_COLORS))]
        wall = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in wall)
        face = np.array(
            [[x, 0, zmin], [x, 0, z + length], [x, height, z + length], [x, height, zmin]]
        )
        _fill(img, cam, face, wall)
        dark = tuple(int(v * 0.45) for v in wall)
        for fy in np.arange(1.5, height - 1.5, 3.0):
            for fz in np.arange(zmin + 1, z + length - 1.5, 2.5):
                win = np.array(
                    [[x, fy, fz], [x, fy, fz + 1.2], [x, fy + 1.5, fz + 1.2], [x, fy + 1.5, fz]]
                )
                _fill(img, cam, win, dark)
        z += length + rng.uniform(0, 6)


def _draw_trees(img: np.ndarray, cam: Camera, rng: np.random.Generator, x: float) -> None:
    for z in np.arange(12 + rng.uniform(0, 10), 200, rng.uniform(14, 25))[::-1]:  # far ones first
        trunk = np.array([[x - 0.15, 0, z], [x + 0.15, 0, z], [x + 0.15, 3, z], [x - 0.15, 3, z]])
        _fill(img, cam, trunk, (40, 60, 80))
        centre = cam.project([[x, 4.2, z]])[0]
        r = cam.focal * 1.8 / max(cam.depth([[x, 4.2, z]])[0], 1e-3)
        if np.isfinite(centre).all() and r > 1:
            green = (
                int(rng.integers(30, 60)),
                int(rng.integers(90, 130)),
                int(rng.integers(40, 70)),
            )
            cv2.ellipse(
                img,
                (int(centre[0]), int(centre[1])),
                (int(r), int(r * 1.1)),
                0,
                0,
                360,
                green,
                -1,
                cv2.LINE_AA,
            )


# ---------------------------------------------------------------- cars


@dataclass
class Car:
    """A car on the road: its face is the camera-facing end (the front of an oncoming car, the
    rear of a car driving away); the body extends away from the camera behind it."""

    face: CarFace
    plate_image: np.ndarray
    plate_alpha: np.ndarray
    length: float
    x: float = 0.0  # lateral centre
    z: float = 0.0  # distance of the face

    @property
    def width(self) -> float:
        return self.face.size_mm[0] / 1000

    @property
    def height(self) -> float:
        return self.face.size_mm[1] / 1000

    def face_point(self, u_mm: np.ndarray) -> np.ndarray:
        """World coordinates of points given in face millimetres (x right, y down from the roof)."""
        u = np.asarray(u_mm, np.float64).reshape(-1, 2) / 1000
        return np.column_stack(
            [self.x - self.width / 2 + u[:, 0], self.height - u[:, 1], np.full(len(u), self.z)]
        )

    def plate_corners_world(self) -> np.ndarray:
        x, y, w, h = self.face.plate_mm
        return self.face_point([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])

    def box_points(self) -> np.ndarray:
        """The 8 corners of the car's bounding box: its silhouette for occlusion."""
        x1, x2 = self.x - self.width / 2, self.x + self.width / 2
        return np.array(
            [
                [x, y, z]
                for x in (x1, x2)
                for y in (0, self.height)
                for z in (self.z, self.z + self.length)
            ]
        )


GLASS = (48, 42, 38)


def _box_faces(car: Car, color) -> list[tuple[np.ndarray, tuple[float, ...]]]:
    """The body's far surfaces seen from above the road, in drawing order, with their colours:
    bonnet or boot, the side facing the camera (metal below, glass above), then the roof."""
    w, h, length = car.width, car.height, car.length
    waist, inset = h * 0.45, w * 0.14
    x1, x2, z1, z2 = car.x - w / 2, car.x + w / 2, car.z, car.z + length
    cabin_end = z1 + length * 0.6

    def shade(f: float) -> tuple[float, ...]:
        return tuple(float(np.clip(c * f, 0, 255)) for c in color)

    faces = [
        (np.array([[x1, waist, z1], [x2, waist, z1], [x2, waist, z2], [x1, waist, z2]]), shade(1.0))
    ]
    side = x1 if x1 > 0 else (x2 if x2 < 0 else None)
    if side is not None:
        cs = side + (inset if side == x1 else -inset)
        metal = np.array([[side, 0.2, z1], [side, 0.2, z2], [side, waist, z2], [side, waist, z1]])
        glass = np.array(
            [[side, waist, z1], [side, waist, cabin_end], [cs, h, cabin_end], [cs, h, z1]]
        )
        faces += [(metal, shade(0.7)), (glass, GLASS)]
    roof = np.array(
        [
            [x1 + inset, h, z1],
            [x2 - inset, h, z1],
            [x2 - inset, h, cabin_end],
            [x1 + inset, h, cabin_end],
        ]
    )
    return [*faces, (roof, shade(1.15))]


def draw_car(frame: np.ndarray, cam: Camera, car: Car, color) -> np.ndarray:
    """Draw the car (shadow, body, textured face, plate); returns the plate's image corners."""
    shadow = _ground_quad(
        car.x - car.width / 2 - 0.1, car.x + car.width / 2 + 0.1, car.z - 0.15, car.z + car.length
    )
    _blend_poly(frame, cam.project(shadow), (20, 20, 20), 0.5)
    for quad, face_color in _box_faces(car, color):
        _fill(frame, cam, quad, face_color)
    face_world = car.face_point(image_corners(car.face.image) / car.face.px_per_mm)
    h_face = cv2.getPerspectiveTransform(image_corners(car.face.image), cam.project(face_world))
    warp_onto(frame, car.face.image, car.face.alpha, h_face)
    corners = cam.project(car.plate_corners_world())
    h_plate = cv2.getPerspectiveTransform(image_corners(car.plate_image), corners)
    warp_onto(frame, car.plate_image, car.plate_alpha, h_plate)
    return corners


def _blend_poly(frame: np.ndarray, pts: np.ndarray, color, opacity: float) -> None:
    x1, y1 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x2, y2 = np.minimum(np.ceil(pts.max(0)).astype(int) + 1, [frame.shape[1], frame.shape[0]])
    if x2 <= x1 or y2 <= y1:
        return
    roi = frame[y1:y2, x1:x2]
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(pts - [x1, y1]).astype(np.int32), 255, cv2.LINE_AA)
    a = cv2.GaussianBlur(mask, (0, 0), 2)[..., None].astype(np.float32) / 255 * opacity
    roi[:] = (roi * (1 - a) + np.asarray(color, np.float32) * a).astype(np.uint8)


def silhouette(cam: Camera, car: Car) -> np.ndarray:
    """Convex outline of a car in the image, used to tell which plates it hides."""
    pts = cam.project(car.box_points())
    return cv2.convexHull(pts).reshape(-1, 2)


@dataclass
class Gate:
    """A barrier left of the lane at distance ``z``, its arm lifted between two times (s)."""

    x_pole: float
    z: float
    length: float
    lift_from: float
    lift_to: float

    def angle(self, t: float) -> float:
        f = np.clip((t - self.lift_from) / max(self.lift_to - self.lift_from, 1e-3), 0, 1)
        return float(f * np.radians(80))

    def parts(self, t: float) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
        """World quads of the post and the striped arm at time ``t``, with their colours."""
        x, z, a = self.x_pole, self.z, self.angle(t)
        parts = [
            (
                np.array(
                    [[x - 0.15, 0, z], [x + 0.15, 0, z], [x + 0.15, 1.1, z], [x - 0.15, 1.1, z]]
                ),
                (60, 60, 60),
            )
        ]
        n, thick = 8, 0.06
        for i in range(n):
            (x0, y0), (x1, y1) = (
                (x + d * np.cos(a), 1.0 + d * np.sin(a))
                for d in (i / n * self.length, (i + 1) / n * self.length)
            )
            quad = np.array(
                [[x0, y0 - thick, z], [x1, y1 - thick, z], [x1, y1 + thick, z], [x0, y0 + thick, z]]
            )
            parts.append((quad, (30, 30, 200) if i % 2 else (235, 235, 235)))
        return parts


def draw_gate(frame: np.ndarray, cam: Camera, gate: Gate, t: float) -> None:
    for quad, color in gate.parts(t):
        _fill(frame, cam, quad, color)
