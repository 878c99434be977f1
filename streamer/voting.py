"""When to read a track, and how its reads become one text.

Reading every frame would cost the recognizer's time on views that add nothing; instead a track
is read when confirmed and again only when its detection is clearly better than the best one read
so far (wider, sharper, more frontal, more confident), within a per-track cap and cool-down (in
seconds, so that a camera of a few frames a second still gets a vote).

The reads are fused per character position: first the plate length is voted (each read's weight
is its plate confidence times, for a track, its view's width), then, over the reads of that
length, the recognizer's per-position probability vectors are summed with the same weights and
the best character taken at each place (a zero, not an O, after a digit where the two are
close: ``ZERO_AFTER_DIGIT``).
One bad read among good ones is outvoted; a read of the wrong length does not shift the others.
With plate formats (``formats``, ``regions``), each read and the fused text become the likeliest
text that fits one (``streamer.formats``), and the length is the one whose fitting text is most
probable. A still image has no track: its plates are read in a few shifted views, fused the same
way (``read_still``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from streamer.config import VotingConfig
from streamer.detector import Detection
from streamer.formats import best_matching_text, compile_formats
from streamer.geometry import box_to_corners
from streamer.recognizer import Reading, Recognizer


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian: blur lowers it."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def frontality(corners: np.ndarray) -> float:
    """1 for a plate seen square-on; lower as opposite edges differ in length (perspective)."""
    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    top, bottom = np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[3])
    left, right = np.linalg.norm(c[3] - c[0]), np.linalg.norm(c[2] - c[1])
    return float(
        min(top, bottom) / max(top, bottom, 1e-6) * min(left, right) / max(left, right, 1e-6)
    )


def view_quality(detection: Detection, crop: np.ndarray) -> float:
    """How good a view is for reading: width x sharpness x frontality x detector score."""
    width = float(detection.box[2] - detection.box[0])
    return (
        width * math.sqrt(sharpness(crop) + 1.0) * frontality(detection.corners) * detection.score
    )


@dataclass
class Read:
    reading: Reading
    frame: int
    quality: float
    detection: Detection
    rejected: str | None = None  # reason, when the read does not vote
    #: (rectified plate, frame, box) kept for the evidence crop, when crops are written
    evidence: tuple | None = None


@dataclass
class TrackText:
    """The reads of one track and their fused text."""

    reads: list[Read] = field(default_factory=list)
    last_read_pts: float = float("-inf")
    best_quality: float = 0.0
    rejected: Counter = field(default_factory=Counter)
    #: the text was final before the track ended (its event is written, it is read no more)
    final: bool = False
    #: plate formats the fused text must fit (none: any text)
    formats: tuple[re.Pattern, ...] = ()
    #: (reads fused, result): the overlay asks for the text on every frame, reads come seldom
    _fused: tuple[int, tuple[str, float, list[float]]] = (-1, ("", 0.0, []))

    @property
    def accepted(self) -> list[Read]:
        return [r for r in self.reads if r.rejected is None]

    def fused(self) -> tuple[str, float, list[float]]:
        if self._fused[0] != len(self.reads):
            self._fused = (
                len(self.reads),
                fuse_reads(
                    [r.reading for r in self.accepted],
                    self.formats,
                    [float(r.detection.box[2] - r.detection.box[0]) for r in self.accepted],
                ),
            )
        return self._fused[1]

    def absorb(self, earlier: TrackText) -> None:
        """Take the reads of a track that ended before this one took up its plate."""
        self.reads[:0] = earlier.reads
        self.rejected.update(earlier.rejected)
        self.best_quality = max(self.best_quality, earlier.best_quality)

    def doubt(self, min_confidence: float, min_read_share: float) -> str | None:
        """Why the voted text is not a plate to report, or None: voted too unsurely, or from
        too few of the track's reads, the others unreadable though their views were as good.
        (Only views as good: a plate that approaches is unreadable while it is far away. But
        one read is no vote: a single accepted read counts against all the track's reads, or
        a lucky read on the track's best view, the other 15 unreadable, passed as a plate.)"""
        if self.fused()[1] < min_confidence:
            return "low voted confidence"
        accepted = self.accepted
        worst = min((r.quality for r in accepted), default=0.0) if len(accepted) > 1 else 0.0
        as_good = [r for r in self.reads if r.quality >= worst]
        if len(accepted) < min_read_share * len(as_good):
            return "few reads accepted"
        return None

    def is_stable(self, reads: int, min_confidence: float, min_read_share: float = 0.0) -> bool:
        """The last ``reads`` accepted reads all say the voted text, and it is not in doubt."""
        last = self.accepted[-reads:]
        if reads < 1 or len(last) < reads:
            return False
        text = self.fused()[0]
        doubt = self.doubt(min_confidence, min_read_share)
        return doubt is None and all(r.reading.text == text for r in last)

    def deciding_read(self) -> Read | None:
        """The best view among the accepted reads that agree with the fused text (or all)."""
        text = self.fused()[0]
        accepted = self.accepted
        agreeing = [r for r in accepted if r.reading.text == text]
        pool = agreeing or accepted
        return max(pool, key=lambda r: r.quality) if pool else None


def fuse_reads(
    readings: list[Reading],
    formats: tuple[re.Pattern, ...] = (),
    view_widths: Sequence[float] | None = None,
) -> tuple[str, float, list[float]]:
    """Length vote, then confidence-weighted sum of per-position probabilities; with formats,
    the length and text whose fitting text is most probable.

    ``view_widths`` (a track's plate widths, in pixels) make a read count in proportion to its
    view's width too: a track is read far more often while small, and those reads are the
    doubtful ones (6 or 8 in a 41 px MV184VT), so by count alone they outweigh the few close
    ones. The confidence is unchanged in scale: it is the voted length's share of the weight.
    """
    kept = [i for i, r in enumerate(readings) if r.text]
    if not kept:
        return "", 0.0, []
    readings = [readings[i] for i in kept]
    weights = [max(r.confidence, 1e-3) for r in readings]
    if view_widths is not None:
        weights = [w * max(float(view_widths[i]), 1.0) for w, i in zip(weights, kept)]
    lengths: Counter = Counter()
    for r, w in zip(readings, weights):
        lengths[len(r.text)] += w
    charset = readings[0].charset
    best: tuple[str, float, list[float]] = ("", 0.0, [])
    for length, weight in lengths.most_common(None if formats else 1):
        same = [(r, w) for r, w in zip(readings, weights) if len(r.text) == length]
        probs = sum(r.probs[:length] * w for r, w in same) / sum(w for _, w in same)
        probs[:, 0] = 0.0  # inside the voted length there is no end
        if formats:
            match = best_matching_text(probs, charset, formats)
            if match is None:
                continue
            text, char_conf = match
        else:
            chars = digit_run_chars(probs, charset)
            text = "".join(charset[c] for c in chars)
            char_conf = [float(probs[i, c]) for i, c in enumerate(chars)]
        confidence = float(np.prod(char_conf)) * weight / sum(lengths.values())
        if not best[0] or confidence > best[1]:
            best = (text, confidence, char_conf)
    return best


#: a fused O right after a digit is read as a zero where the zero has at least this share of
#: the O's probability. On a plate a digit is seldom followed by the letter O (7 times in 1180
#: in the labelled crops and scenes, against 1173 zeros: many alphabets leave O out beside 0),
#: while plates whose 0 is as round as an O are common (Croatian ones: RK906AJ read RK9O6AJ,
#: the O at 0.50 and the zero at 0.37 over three views; RK300AS's first zero 0.79 and 0.14).
#: Where an O after a digit is part of the format (a British AB12 OCD), ``regions``/``formats``
#: read the plate instead, and this rule does not apply.
ZERO_AFTER_DIGIT = 0.1


def digit_run_chars(probs: np.ndarray, charset: Sequence[str]) -> np.ndarray:
    """Each position's likeliest class, but an O after a digit a zero where the zero is
    close enough (``ZERO_AFTER_DIGIT``); left to right, so that a run (RK3OOAS) becomes
    digits throughout."""
    chars = probs.argmax(-1)
    if "O" not in charset or "0" not in charset:
        return chars
    letter_o, zero = charset.index("O"), charset.index("0")
    for i in range(1, len(chars)):
        if (
            chars[i] == letter_o
            and charset[chars[i - 1]].isdigit()
            and probs[i, zero] >= ZERO_AFTER_DIGIT * probs[i, letter_o]
        ):
            chars[i] = zero
    return chars


def shifted_corners(corners: np.ndarray, fraction: float) -> np.ndarray:
    """The plate's corners moved along its width by ``fraction`` of it."""
    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    along = ((c[1] - c[0]) + (c[2] - c[3])) / 2
    return (c + fraction * along).astype(np.float32)


def view_shifts(views: int, step: float) -> list[float]:
    """0, -step, +step, -2 step, +2 step, ...: ``views`` of them."""
    sides = itertools.cycle((-1, 1))
    return [0.0] + [next(sides) * step * (1 + i // 2) for i in range(max(views, 1) - 1)]


def read_still(
    recognizer: Recognizer,
    image: np.ndarray,
    corners_list: Sequence[np.ndarray],
    formats: tuple[re.Pattern, ...] = (),
) -> list[tuple[str, float, list[float]]]:
    """Each plate of one still image read in a few views and fused as a track's reads are:
    where a video gives every plate several frames, a photo gives one, and a character the
    model is unsure of in one framing is often clear in a slightly shifted one."""
    shifts = view_shifts(recognizer.config.still_views, recognizer.config.view_shift)
    crops = [recognizer.rectify(image, shifted_corners(c, s)) for c in corners_list for s in shifts]
    readings = recognizer.recognize(crops)
    n = len(shifts)
    return [fuse_reads(readings[i * n : (i + 1) * n], formats) for i in range(len(corners_list))]


def read_plate_crops(
    recognizer: Recognizer, crops: Sequence[np.ndarray], formats: tuple[re.Pattern, ...] = ()
) -> list[tuple[str, float, list[float]]]:
    """Whole-plate crops read as ``read_still`` reads a photo's plates; each crop is first
    scaled to the model's input (as a single view would be), so the views are shifts of it."""
    w, h = recognizer.input_size
    whole = box_to_corners([0, 0, w, h])
    return [
        read_still(
            recognizer, cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA), [whole], formats
        )[0]
        for c in crops
    ]


def conform(reading: Reading, formats: Sequence[re.Pattern]) -> Reading | None:
    """The read as the likeliest text of its length that fits a format, or None."""
    length = len(reading.text)
    match = best_matching_text(reading.probs[:length], reading.charset, formats)
    if match is None:
        return None
    text, char_conf = match
    end = float(reading.probs[length, 0]) if length < len(reading.probs) else 1.0
    return Reading(text, math.prod(char_conf) * end, char_conf, reading.probs, reading.charset)


class ReadScheduler:
    """Decides which confirmed tracks to read in this frame and keeps their reads."""

    def __init__(self, config: VotingConfig | None = None):
        self.config = config or VotingConfig()
        self.formats = compile_formats(self.config.formats, self.config.regions)
        self.texts: dict[int, TrackText] = {}

    def due(self, track_id: int, detection: Detection, pts: float) -> bool:
        """Whether the track may be read in this frame at all: asked before its plate is cut
        out of the frame, which most frames of a track (cooling down, read enough) never need."""
        state = self.texts.setdefault(track_id, TrackText(formats=self.formats))
        if state.final or len(state.reads) >= self.config.max_reads:
            return False
        if pts - state.last_read_pts < self.config.read_interval:
            return False
        if detection.box[2] - detection.box[0] < self.config.min_width:
            state.rejected["too small"] += 1
            return False
        return True

    def wants_read(
        self, track_id: int, detection: Detection, crop: np.ndarray, pts: float
    ) -> float | None:
        """The view's quality if this track should be read now, else None."""
        if not self.due(track_id, detection, pts):
            return None
        state = self.texts[track_id]
        quality = view_quality(detection, crop)
        enough = len(state.accepted) >= self.config.min_reads
        if enough and quality < state.best_quality * self.config.improvement:
            return None
        return quality

    def add(
        self,
        track_id: int,
        reading: Reading,
        frame: int,
        pts: float,
        quality: float,
        detection: Detection,
    ) -> Read:
        state = self.texts.setdefault(track_id, TrackText(formats=self.formats))
        reason = self.rejection(reading)
        if reason is None and self.formats:
            fitted = conform(reading, self.formats)
            if fitted is None:
                reason = "no format match"
            else:
                reading = fitted
        read = Read(reading, frame, quality, detection, reason)
        state.reads.append(read)
        state.last_read_pts = pts
        if reason:
            state.rejected[reason] += 1
        else:
            state.best_quality = max(state.best_quality, quality)
        return read

    def rejection(self, reading: Reading) -> str | None:
        if not reading.text:
            return "no text"
        if reading.confidence < self.config.min_read_confidence:
            return "low confidence"
        return None

    def pop(self, track_id: int) -> TrackText | None:
        return self.texts.pop(track_id, None)
