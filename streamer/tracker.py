"""Multi-plate tracking: a constant-velocity Kalman filter per plate and two-pass assignment.

State is the box centre and the logarithms of its width and height, with their velocities, the
centre's in plate widths a frame (filterpy), so that a plate which approaches or recedes moves
linearly in it even at a few frames a second. Each frame, the detections above the detector's
threshold are matched first (Hungarian, on a cost mixing IoU and centre distance in plate
widths), then the weaker ones extend only the tracks still unmatched, and only where they
overlap the prediction (ByteTrack), so a plate that blurs for a frame keeps its track. The
distance gate, rather than IoU alone, still matches a small fast plate whose boxes do not
overlap between frames; a track seen once, with no velocity yet, gets gates widened for the
time since the last frame. Life cycle: tentative -> confirmed (after ``confirm_hits``) -> lost
(for up to ``max_lost`` frames or ``max_lost_seconds``) -> removed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import Enum

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from streamer.config import TrackerConfig
from streamer.detector import Detection
from streamer.geometry import box_iou

INFEASIBLE = 1e6
#: measurement noise of a weak detection against a strong one's: its centre is as good, its size
#: 25 times less certain (10-100 gave the same events on every clip; ignoring its size, a plate
#: growing fast behind a stretch of weak boxes outgrew its prediction's size gate)
WEAK_NOISE = np.diag([1.0, 1.0, 25.0, 25.0])
#: variances of the state (centre x, y, log width, log height, and their velocities a frame),
#: the centre's in plate widths: at the start, added each frame, and of a measurement.
INITIAL_VAR = np.array([0.1, 0.1, 0.1, 0.1, 4, 4, 1, 1])
PROCESS_VAR = np.array([0.01, 0.01, 0.01, 0.01, 0.1, 0.1, 0.01, 0.01])
MEASUREMENT_VAR = np.array([0.005, 0.005, 0.01, 0.01])


class TrackState(Enum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    REMOVED = "removed"


def box_to_z(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, np.log(w), np.log(h)], dtype=float)


def z_to_box(z: np.ndarray) -> np.ndarray:
    cx, cy, w, h = z[:4]
    w, h = np.exp(w), np.exp(h)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)


def pixel_units(z: np.ndarray, n: int) -> np.ndarray:
    """Per state entry, the factor from the noise tables' units to the state's: the centre is
    kept in pixels but its noise is set in plate widths (at least 10 pixels)."""
    width = max(float(np.exp(z[2])), 10.0)
    return np.array([width**2] * 2 + [1.0] * (n - 2))


def make_filter(box: np.ndarray) -> KalmanFilter:
    """Constant velocity in centre and size, with the centre's velocity in plate widths and the
    size as its logarithm. A plate that approaches or recedes grows or shrinks by a ratio a
    frame, and its centre moves by a number of its own widths: linear in these units, the
    model still predicts it at a few frames a second, where a pixel-linear one overshot
    (a receding plate's predicted width collapsed between two frames, and its track split)."""
    kf = KalmanFilter(dim_x=8, dim_z=4)
    kf.F = np.eye(8)
    kf.F[:4, 4:] = np.eye(4)
    kf.H = np.eye(4, 8)
    kf.x[:4, 0] = box_to_z(box)
    kf.P = np.diag(INITIAL_VAR * pixel_units(kf.x[:, 0], 8))
    return kf


@dataclass
class Track:
    detection: Detection
    frame: int
    config: TrackerConfig
    id: int
    state: TrackState = TrackState.TENTATIVE
    hits: int = 1
    misses: int = 0
    first_frame: int = 0
    last_frame: int = 0
    matched: bool = True
    #: seconds into the stream of the frame the plate was last seen in (None: untimed)
    last_pts: float | None = None

    def __post_init__(self):
        self.kf = make_filter(self.detection.box)
        self.first_frame = self.last_frame = self.frame
        self.first_detection = self.detection

    @property
    def predicted_box(self) -> np.ndarray:
        return z_to_box(self.kf.x[:, 0])

    def predict(self) -> None:
        z = self.kf.x[:, 0]
        self.kf.F[0, 4] = self.kf.F[1, 5] = np.exp(z[2])  # a velocity in widths, in pixels
        self.kf.predict(Q=np.diag(PROCESS_VAR * pixel_units(z, 8)))
        self.matched = False

    def update(
        self, detection: Detection, frame: int, pts: float | None = None, weak: bool = False
    ) -> None:
        """A matched detection. A weak one (ByteTrack's second pass) is trusted for where the
        plate is more than for its size: its box is often the plate with its surround, or a
        part of it, and taken at face value for a change of size it sent the prediction off so
        that the plate's next strong box failed the size gate (two tracks, two events, for one
        plate of the sample mixed_traffic)."""
        noise = np.diag(MEASUREMENT_VAR * pixel_units(self.kf.x[:, 0], 4))
        self.kf.update(box_to_z(detection.box), R=noise @ WEAK_NOISE if weak else noise)
        self.detection, self.last_frame, self.last_pts = detection, frame, pts
        self.matched = True
        self.hits += 1
        self.misses = 0
        if (
            self.state in (TrackState.TENTATIVE, TrackState.LOST)
            and self.hits >= self.config.confirm_hits
        ):
            self.state = TrackState.CONFIRMED

    def mark_missed(self, pts: float | None = None) -> None:
        self.misses += 1
        unseen = 0.0 if pts is None or self.last_pts is None else pts - self.last_pts
        if self.state == TrackState.TENTATIVE:
            self.state = TrackState.REMOVED
        elif self.misses > self.config.max_lost or unseen > self.config.max_lost_seconds:
            self.state = TrackState.REMOVED
        else:
            self.state = TrackState.LOST


def association_cost(
    tracks: list[Track],
    detections: list[Detection],
    gate: float | np.ndarray,
    size_gate: float | np.ndarray,
    min_iou: float = 0.0,
) -> np.ndarray:
    """1 - IoU plus the centre distance in plate widths; pairs outside the gate are infeasible,
    and so are pairs whose widths differ by more than ``size_gate`` times: a lost track's
    prediction must not take over the plate of another car that appears where it was heading
    (a plate grows or shrinks a few per cent a frame, which the filter's size velocity follows).
    Pairs overlapping less than ``min_iou`` are infeasible too (the weak pass asks for overlap,
    as ByteTrack's does, where the distance gate would take any box nearby)."""
    if not tracks or not detections:
        return np.zeros((len(tracks), len(detections)))
    gate = np.broadcast_to(gate, (len(tracks),))[:, None]  # a gate per track, or one for all
    size_gate = np.broadcast_to(size_gate, (len(tracks),))[:, None]
    pred = np.stack([t.predicted_box for t in tracks])
    det = np.stack([d.box for d in detections])
    iou = box_iou(pred, det)
    pc = (pred[:, None, :2] + pred[:, None, 2:]) / 2
    dc = (det[None, :, :2] + det[None, :, 2:]) / 2
    width = np.maximum(pred[:, None, 2] - pred[:, None, 0], det[None, :, 2] - det[None, :, 0])
    dist = np.linalg.norm(pc - dc, axis=-1) / np.maximum(width, 1.0)
    cost = (1 - iou) + 0.5 * dist
    cost[(iou < 0.05) & (dist > gate)] = INFEASIBLE
    cost[iou < min_iou] = INFEASIBLE
    ratio = (pred[:, None, 2] - pred[:, None, 0]) / np.maximum(
        det[None, :, 2] - det[None, :, 0], 1.0
    )
    cost[(ratio > size_gate) | (ratio < 1 / size_gate)] = INFEASIBLE
    return cost


def assign(cost: np.ndarray) -> tuple[list[tuple[int, int]], set[int], set[int]]:
    """Hungarian matching; returns pairs and the unmatched row and column indices."""
    rows, cols = set(range(cost.shape[0])), set(range(cost.shape[1]))
    if not cost.size:
        return [], rows, cols
    r, c = linear_sum_assignment(cost)
    pairs = [(i, j) for i, j in zip(r, c) if cost[i, j] < INFEASIBLE]
    return pairs, rows - {i for i, _ in pairs}, cols - {j for _, j in pairs}


class Tracker:
    """Keeps the live tracks; ``update`` returns the tracks that ended in this frame."""

    def __init__(self, config: TrackerConfig | None = None, high_score: float = 0.5):
        self.config = config or TrackerConfig()
        self.high_score = high_score
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)  # per tracker: a run's track ids start at 1
        self.last_pts: float | None = None

    @property
    def low_score(self) -> float:
        return self.high_score * self.config.low_score_factor

    def widening(self, gap: float) -> float:
        """How much wider the gates of a track seen once are for a frame ``gap`` seconds after
        the previous one: 1 up to ``gate_interval``, more in proportion over a longer gap (a
        camera of a few frames a second), up to ``max_gate_widening``."""
        return min(max(gap / self.config.gate_interval, 1.0), self.config.max_gate_widening)

    def update(
        self, detections: list[Detection], frame: int, pts: float | None = None
    ) -> list[Track]:
        """Match this frame's detections to the tracks. A track seen once has no velocity
        yet: its plate is looked for where it was, within gates widened for the time since
        (``widening``); a track with a velocity is predicted well at any frame rate, and wider
        gates only let it jump to another car's plate."""
        gap = 0.0 if pts is None or self.last_pts is None else pts - self.last_pts
        self.last_pts = pts
        seen_once = np.array([t.hits == 1 for t in self.tracks], dtype=bool)
        widening = np.where(seen_once, self.widening(gap), 1.0)
        gate, size_gate = self.config.gate * widening, self.config.size_gate**widening
        for t in self.tracks:
            t.predict()
        high = [d for d in detections if d.score >= self.high_score]
        low = [d for d in detections if self.low_score <= d.score < self.high_score]
        pairs, free_tracks, free_high = assign(association_cost(self.tracks, high, gate, size_gate))
        for i, j in pairs:
            self.tracks[i].update(high[j], frame, pts)
        # second pass: weak detections only extend established tracks
        remaining = [
            self.tracks[i]
            for i in sorted(free_tracks)
            if self.tracks[i].state != TrackState.TENTATIVE
        ]
        pairs_low, _, _ = assign(
            association_cost(
                remaining,
                low,
                self.config.gate,
                self.config.size_gate,
                self.config.low_score_min_iou,
            )
        )
        for i, j in pairs_low:
            remaining[i].update(low[j], frame, pts, weak=True)
        for t in self.tracks:
            if not t.matched:
                t.mark_missed(pts)
        for j in sorted(free_high):
            track = Track(high[j], frame, self.config, next(self._ids), last_pts=pts)
            self.tracks.append(track)
        ended = [t for t in self.tracks if t.state == TrackState.REMOVED]
        self.tracks = [t for t in self.tracks if t.state != TrackState.REMOVED]
        return ended

    def finish(self) -> list[Track]:
        """End every track (end of input)."""
        ended, self.tracks = self.tracks, []
        for t in ended:
            t.state = TrackState.REMOVED
        return ended

    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.state == TrackState.CONFIRMED and t.matched]
