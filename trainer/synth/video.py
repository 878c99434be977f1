"""Synthetic traffic videos with per-frame plate ground truth.

Cars drive along a road seen by a fixed camera: oncoming cars approach from the distance so
their plates grow until they leave the bottom of the frame, cars driving away appear from below
and shrink, some oncoming cars stop (at a gate, whose barrier lifts) and drive on. Traffic is
planned before anything is drawn: a car is only kept if it does not run into another car in its
lane and its plate is, at some frame, at least ``READABLE_PX`` wide, fully in the frame and not
hidden by a nearer car, as a real camera would have shown it. The ground truth is written as
``<name>.json`` beside the MP4:

``{"video", "fps", "width", "height", "frames", "tracks": [{"track_id", "text", "printed",
"region", "style", "frames": [{"frame", "pts", "box", "corners", "visible"}]}]}``

where ``visible`` is the fraction of the plate not hidden by nearer cars, and a track lists the
frames in which its plate is entirely inside the picture and at least ``MIN_WIDTH_PX`` wide.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.geometry import corners_to_box, plate_width
from trainer.synth.effects import gaussian_blur, sensor_noise
from trainer.synth.plates import READ_REGIONS, Plate, render_plate, smallest_plate_mm
from trainer.synth.road import (
    Camera,
    Car,
    Gate,
    camera_for_plates,
    draw_car,
    draw_gate,
    draw_street,
    silhouette,
)
from trainer.synth.vehicles import BODY_COLORS, car_face

READABLE_PX = 100  # every track's plate reaches this width at least once, unhidden
MIN_WIDTH_PX = 10  # narrower plates are not listed in the ground truth
MAX_LANE_OFFSET_M = 1.6  # oncoming traffic at -offset, traffic driving away at +offset


@dataclass
class Motion:
    """Distance of a car's face along the road as a function of time (seconds).

    Oncoming cars drive towards the camera at ``speed``, optionally braking to a stop at
    ``stop_z`` at time ``anchor_t`` and waiting ``wait`` seconds; otherwise they pass ``anchor_z``
    at ``anchor_t``. Cars driving away start at ``anchor_z`` at ``anchor_t``.
    """

    oncoming: bool
    speed: float
    anchor_t: float
    anchor_z: float
    wait: float = 0.0
    brake_s: float = 2.5
    accel_s: float = 3.0

    def z(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, np.float64)
        if not self.oncoming:
            return np.where(
                t >= self.anchor_t, self.anchor_z + self.speed * (t - self.anchor_t), np.nan
            )
        if self.wait <= 0:
            return self.anchor_z - self.speed * (t - self.anchor_t)
        v, tb, ta = self.speed, self.brake_s, self.accel_s
        t_go = self.anchor_t + self.wait
        before = self.anchor_t - t  # time left until the stop
        after = t - t_go
        return np.select(
            [before > tb, before > 0, after <= 0, after < ta],
            [
                self.anchor_z + v * tb / 2 + v * (before - tb),
                self.anchor_z + 0.5 * v / tb * before**2,
                np.full_like(t, self.anchor_z),
                self.anchor_z - 0.5 * v / ta * after**2,
            ],
            self.anchor_z - v * ta / 2 - v * (after - ta),
        )


@dataclass
class Vehicle:
    track_id: int
    plate: Plate
    car: Car
    color: tuple[float, float, float]
    motion: Motion
    z: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per frame, nan when absent


@dataclass
class PlateView:
    corners: np.ndarray
    visible: float


@dataclass
class Traffic:
    camera: Camera
    fps: float
    frames: int
    vehicles: list[Vehicle]
    background: np.ndarray
    lanes: dict[bool, float]  # lateral position of the lane for oncoming (True) and other cars
    gate: Gate | None = None


def _present(z: np.ndarray) -> np.ndarray:
    """A car is drawn while its face is in front of the camera and not lost in the distance."""
    return np.isfinite(z) & (z > 1.0) & (z < 160)


def plate_views(traffic: Traffic, frame: int) -> dict[int, PlateView]:
    """Plates fully inside the frame at ``frame``, with the fraction not hidden by nearer cars
    (or the gate's barrier)."""
    cam = traffic.camera
    cars = [v for v in traffic.vehicles if _present(v.z[frame : frame + 1])[0]]
    for v in cars:
        v.car.z = float(v.z[frame])
    views = {}
    for v in cars:
        corners = cam.project(v.car.plate_corners_world())
        inside = (
            (corners >= 0).all()
            and (corners[:, 0] <= cam.width - 1).all()
            and (corners[:, 1] <= cam.height - 1).all()
        )
        if not inside or plate_width(corners) < MIN_WIDTH_PX:
            continue
        x1, y1, x2, y2 = corners_to_box(corners).astype(int)
        origin = np.array([x1, y1])
        mask = np.zeros((y2 - y1 + 2, x2 - x1 + 2), np.uint8)
        cv2.fillConvexPoly(mask, np.round(corners - origin).astype(np.int32), 1)
        total = max(int(mask.sum()), 1)
        for other in cars:
            if other is not v and other.car.z < v.car.z:
                cv2.fillConvexPoly(
                    mask, np.round(silhouette(cam, other.car) - origin).astype(np.int32), 0
                )
        if traffic.gate is not None and traffic.gate.z < v.car.z:
            for quad, _ in traffic.gate.parts(frame / traffic.fps):
                cv2.fillConvexPoly(mask, np.round(cam.project(quad) - origin).astype(np.int32), 0)
        views[v.track_id] = PlateView(corners, float(mask.sum()) / total)
    return views


def _readable(views: list[dict[int, PlateView]], track_id: int) -> bool:
    return any(
        track_id in fv
        and fv[track_id].visible > 0.97
        and plate_width(fv[track_id].corners) >= READABLE_PX
        for fv in views
    )


def _lane_clear(new: Vehicle, others: list[Vehicle]) -> bool:
    """Cars in one lane keep at least their length plus 3 m apart whenever both are on screen."""
    for o in others:
        if o.motion.oncoming != new.motion.oncoming or abs(o.car.x - new.car.x) > 1.0:
            continue
        both = _present(new.z) & _present(o.z)
        if not both.any():
            continue
        gap = np.abs(new.z[both] - o.z[both])
        leader_len = np.where(new.z[both] > o.z[both], o.car.length, new.car.length)
        if (gap < leader_len + 3).any():
            return False
    return True


def plate_distance(cam: Camera, plate: Plate, width_px: float) -> float:
    """Road distance at which ``plate`` appears ``width_px`` wide."""
    return cam.distance_at_depth(cam.focal * plate.image.shape[1] / 1000 / width_px)


def _new_vehicle(
    rng: np.random.Generator,
    track_id: int,
    traffic: Traffic,
    regions,
    oncoming: bool,
    stop: bool,
    plate: Plate | None = None,
) -> Vehicle:
    cam, seconds = traffic.camera, traffic.frames / traffic.fps
    plate = plate or render_plate(rng, regions, one_row=True)
    color = BODY_COLORS[rng.integers(len(BODY_COLORS))]
    face = car_face(
        rng, (plate.image.shape[1], plate.image.shape[0]), 0.35, rear=not oncoming, color=color
    )
    lane = traffic.lanes[oncoming]
    car = Car(face, plate.image, plate.alpha, rng.uniform(3.9, 4.8), x=lane + rng.normal(0, 0.15))
    readable_z = plate_distance(cam, plate, READABLE_PX * rng.uniform(1.02, 1.25))
    if oncoming:
        speed = rng.uniform(6, 12)
        anchor_t = rng.uniform(0.25, 0.85) * seconds
        wait = rng.uniform(1.0, 2.5) if stop else 0.0
        motion = Motion(True, speed, anchor_t, readable_z, wait)
    else:
        motion = Motion(False, rng.uniform(4, 9), rng.uniform(-0.3, 0.55) * seconds, 0.8)
    t = np.arange(traffic.frames) / traffic.fps
    return Vehicle(track_id, plate, car, color, motion, motion.z(t))


def plan_traffic(
    rng: np.random.Generator, traffic: Traffic, count: int, regions, stops: float, oncoming: float
) -> None:
    """Add up to ``count`` vehicles that keep their lanes clear and whose plates get readable.

    Regions take turns (in a random order), so that a clip shows every region it was asked for.
    """
    turns = list(rng.permutation(list(regions)))
    for track_id in range(1, count + 1):
        region = [turns[(track_id - 1) % len(turns)]]
        for _ in range(40):
            towards = rng.random() < oncoming or False not in traffic.lanes
            v = _new_vehicle(rng, track_id, traffic, region, towards, rng.random() < stops)
            if not _present(v.z).any() or not _lane_clear(v, traffic.vehicles):
                continue
            candidate = [*traffic.vehicles, v]
            trial = Traffic(
                traffic.camera,
                traffic.fps,
                traffic.frames,
                candidate,
                traffic.background,
                traffic.lanes,
            )
            views = [plate_views(trial, i) for i in range(traffic.frames)]
            if all(_readable(views, c.track_id) for c in candidate):
                traffic.vehicles.append(v)
                break


def street_traffic(
    rng: np.random.Generator, size: tuple[int, int], seconds: float, fps: float, regions, count: int
) -> Traffic:
    """Two-way street from a pole-mounted camera; oncoming and departing cars pass each other."""
    w, h = size
    plate_w = smallest_plate_mm(regions) / 1000
    cam = camera_for_plates(
        w, h, plate_w, READABLE_PX * 1.3, rng.uniform(1.6, 2.4), rng.uniform(42, 55), row=0.92
    )
    # a lane must be near enough to the camera's axis for its readable plates to be in frame;
    # when two lanes would not fit side by side, all cars come towards the camera in one lane
    half_frame_m = w / 2 * plate_w / (READABLE_PX * 1.3)
    offset = float(np.clip(0.8 * half_frame_m - plate_w / 2, 0.0, MAX_LANE_OFFSET_M))
    lanes = {True: -offset, False: offset} if offset >= 1.0 else {True: 0.0}
    background = draw_street(cam, rng, tuple(lanes.values()), 3.2)
    traffic = Traffic(cam, fps, int(round(seconds * fps)), [], background, lanes)
    plan_traffic(rng, traffic, count, regions, stops=0.25, oncoming=0.6)
    return traffic


def gate_traffic(
    rng: np.random.Generator, size: tuple[int, int], seconds: float, fps: float, regions
) -> Traffic:
    """One car approaches a barrier, stops while it lifts, and drives on past the camera.

    The camera is aimed for that car's plate, so that it stops large and in the upper middle
    of the picture.
    """
    w, h = size
    for _ in range(40):
        plate = render_plate(rng, regions, one_row=True)
        plate_w = plate.image.shape[1] / 1000
        stop_px = max(READABLE_PX * 1.15, w * rng.uniform(0.13, 0.17))
        cam = camera_for_plates(w, h, plate_w, stop_px, 1.8, 50, row=0.62)
        # beside the camera's axis, so that the car leaves the picture to the right
        lane = min(0.9, 0.25 * w * plate_w / stop_px)
        traffic = Traffic(cam, fps, int(round(seconds * fps)), [], np.zeros(0), {True: lane})
        v = _new_vehicle(rng, 1, traffic, regions, oncoming=True, stop=True, plate=plate)
        v.car.x = lane
        stop_z = plate_distance(cam, plate, stop_px)
        speed, t_stop, wait = rng.uniform(4, 6), rng.uniform(0.35, 0.45), rng.uniform(0.2, 0.3)
        m = Motion(True, speed, t_stop * seconds, stop_z, wait * seconds)
        v.motion, v.z = m, m.z(np.arange(traffic.frames) / fps)
        traffic.vehicles = [v]
        lift = (m.anchor_t + 0.3 * m.wait, m.anchor_t + 0.9 * m.wait)
        traffic.gate = Gate(lane - 1.9, stop_z - 0.8, 3.2, *lift)
        if _readable([plate_views(traffic, i) for i in range(traffic.frames)], 1):
            break
    traffic.background = draw_street(traffic.camera, rng, (lane,), 3.5)
    return traffic


def render_frame(traffic: Traffic, frame: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one frame: the street, then the cars from the farthest to the nearest."""
    cam = traffic.camera
    img = traffic.background.copy()
    cars = [v for v in traffic.vehicles if _present(v.z[frame : frame + 1])[0]]
    for v in cars:
        v.car.z = float(v.z[frame])
    gate = traffic.gate
    behind_gate = [v for v in cars if gate is None or v.car.z > gate.z]
    for v in sorted(behind_gate, key=lambda v: -v.car.z):
        draw_car(img, cam, v.car, v.color)
    if gate is not None:
        draw_gate(img, cam, gate, frame / traffic.fps)
        for v in sorted([v for v in cars if v.car.z <= gate.z], key=lambda v: -v.car.z):
            draw_car(img, cam, v.car, v.color)
    return sensor_noise(gaussian_blur(img, 0.6), rng, 1.2)


def ground_truth(traffic: Traffic, name: str) -> dict:
    tracks = {
        v.track_id: {
            "track_id": v.track_id,
            "text": v.plate.text,
            "printed": v.plate.printed,
            "region": v.plate.region,
            "style": v.plate.style,
            "frames": [],
        }
        for v in traffic.vehicles
    }
    for i in range(traffic.frames):
        for track_id, view in plate_views(traffic, i).items():
            tracks[track_id]["frames"].append(
                {
                    "frame": i,
                    "pts": round(i / traffic.fps, 6),
                    "box": [round(float(c), 2) for c in corners_to_box(view.corners)],
                    "corners": [[round(float(x), 2), round(float(y), 2)] for x, y in view.corners],
                    "visible": round(view.visible, 3),
                }
            )
    return {
        "video": name,
        "fps": int(traffic.fps) if float(traffic.fps).is_integer() else traffic.fps,
        "width": traffic.camera.width,
        "height": traffic.camera.height,
        "frames": traffic.frames,
        "tracks": [t for t in tracks.values() if t["frames"]],
    }


def format_truth(truth: dict) -> str:
    """JSON with one frame record a line: readable, diffable and small."""
    head = json.dumps({k: v for k, v in truth.items() if k != "tracks"}, ensure_ascii=False)
    out = [head[:-1] + ', "tracks": [']
    for i, track in enumerate(truth["tracks"]):
        meta = json.dumps({k: v for k, v in track.items() if k != "frames"}, ensure_ascii=False)
        out.append(" " + meta[:-1] + ', "frames": [')
        out.append(",\n".join("  " + json.dumps(f) for f in track["frames"]))
        out.append(" ]}" + ("," if i < len(truth["tracks"]) - 1 else ""))
    out.append("]}")
    return "\n".join(out) + "\n"


def write_video(traffic: Traffic, path: Path, rng: np.random.Generator, crf: int = 26) -> None:
    pictures = (render_frame(traffic, i, rng) for i in range(traffic.frames))
    rate = Fraction(traffic.fps).limit_denominator(1001)
    write_h264(path, pictures, rate, {"crf": str(crf), "preset": "medium"})


def write_h264(
    path: Path,
    pictures: Iterable[np.ndarray],
    rate: Fraction | int,
    options: dict[str, str] | None = None,
    rotation: int = 0,
) -> Path:
    """Encode BGR pictures as H.264 (libx264, yuv420p) with PyAV at ``rate`` frames a second,
    one at a time, to be displayed turned by ``rotation`` degrees."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = None
        for i, bgr in enumerate(pictures):
            if stream is None:
                stream = container.add_stream("libx264", rate=rate)
                stream.height, stream.width = bgr.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.time_base = 1 / Fraction(rate)
                stream.options = options or {}
                if rotation:
                    stream.set_display_rotation(rotation)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
            frame.pts = i
            container.mux(stream.encode(frame))
        if stream is not None:
            container.mux(stream.encode(None))
    return path


def synth_video(
    path: str | Path,
    seconds: float = 8.0,
    fps: float = 25.0,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    regions: tuple[str, ...] | list[str] | None = None,
    max_plates: int = 4,
    scene: str = "street",
    crf: int = 26,
) -> dict:
    """Write ``path`` (MP4) and ``path`` with ``.json`` (ground truth); returns the ground truth.

    ``scene`` is ``street`` (up to ``max_plates`` cars; fewer when the clip is too short for all
    of them to become readable) or ``gate`` (one car that stops at a barrier).
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    regions = regions or READ_REGIONS  # clips are for reading: the regions the recognizer reads
    if scene == "street":
        traffic = street_traffic(rng, size, seconds, fps, regions, max_plates)
    elif scene == "gate":
        traffic = gate_traffic(rng, size, seconds, fps, regions)
    else:
        raise ValueError(f"unknown scene {scene!r}: street or gate")
    write_video(traffic, path, rng, crf)
    truth = ground_truth(traffic, path.name)
    path.with_suffix(".json").write_text(format_truth(truth), encoding="utf-8")
    return truth
