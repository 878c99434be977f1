"""Outputs: the events JSONL, an HTTP webhook, evidence crops and the annotated H.264 video.

Events are flushed one by one, so a crash or Ctrl-C loses none; the webhook posts them from a
thread of its own, so a slow or absent receiver never holds up the frames. The annotated video
keeps the input's frame rate and timing (frame pts from the source's media time) and is closed
properly on every exit path, so it stays playable.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import av
import cv2
import numpy as np

from streamer.config import OutputConfig
from streamer.geometry import i420_planes

if TYPE_CHECKING:
    from streamer.sources import VideoSource

log = logging.getLogger("platestream.webhook")

#: pinyin for the province characters, which cv2.putText cannot draw (overlay only).
PROVINCE_PINYIN = dict(
    zip(
        "皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新警学",
        "Wan Hu Jin Yu Ji Jin Meng Liao Ji Hei Su Zhe Jing Min Gan Lu Yu E Xiang Yue Gui Qiong "
        "Chuan Gui Yun Zang Shan Gan Qing Ning Xin Jing Xue".split(),
    )
)


class SinkError(RuntimeError):
    """An output that cannot be written."""


def why_unwritable(exc: OSError, folder: Path) -> str:
    """The system's reason, except where a file stands where the output needs ``folder`` or
    one of its parents: that it words 'File exists' or 'Not a directory', naming no file."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        in_the_way = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if in_the_way is not None and not in_the_way.is_dir():
            return f"{in_the_way} is a file, not a folder"
    return exc.strerror or str(exc)


def ascii_text(text: str) -> str:
    return "".join(f"{PROVINCE_PINYIN[c]}-" if c in PROVINCE_PINYIN else c for c in text)


class WebhookPoster:
    """Each event POSTed as JSON to ``url``, in order, from a thread of its own.

    A receiver that is down or slow must cost neither frames nor plates: events wait in memory
    (the oldest dropped beyond ``max_queued``, and counted) and the post is retried with a pause
    that doubles up to ``backoff[1]``, so a receiver restarted gets every event of its outage.
    One that refuses an event (a 4xx status other than 408 and 429) is not asked again for it:
    a retry would be refused too, and hold up the rest. Each outage and each recovery is one
    warning. ``close`` goes on trying for up to ``drain_seconds``.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        max_queued: int = 10000,
        backoff: tuple[float, float] = (0.5, 30.0),
        drain_seconds: float = 10.0,
    ):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SinkError(f"cannot post events to {url!r}: not an http:// or https:// URL")
        self.url, self.timeout, self.max_queued = url, timeout, max_queued
        self.backoff, self.drain_seconds = backoff, drain_seconds
        self.posted = self.refused = self.dropped = 0
        self._queue: deque[bytes] = deque()
        self._wake = threading.Condition()
        self._deadline: float | None = None  # set by close: stop trying after it
        self._failing: str | None = None  # why the last post failed, while it does
        self._sending: bytes | None = None  # the event being posted, out of the queue
        self._thread = threading.Thread(target=self._deliver, name="webhook", daemon=True)
        self._thread.start()

    @property
    def undelivered(self) -> int:
        return len(self._queue) + (self._sending is not None) + self.dropped

    def write(self, event: dict) -> None:
        body = json.dumps(event, ensure_ascii=False).encode()
        with self._wake:
            self._queue.append(body)
            if len(self._queue) > self.max_queued:
                self._queue.popleft()
                self.dropped += 1
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._deadline = time.monotonic() + self.drain_seconds
            if self._failing:
                log.warning(
                    "%s: %d events to post; trying for up to %g s",
                    self.url, self.undelivered, self.drain_seconds,
                )  # fmt: skip
            self._wake.notify()
        self._thread.join(self.drain_seconds + self.timeout + 1)

    def _closing(self) -> bool:
        return self._deadline is not None and (not self._queue or time.monotonic() > self._deadline)

    def _deliver(self) -> None:
        while True:
            with self._wake:
                while not self._queue and self._deadline is None:
                    self._wake.wait()
                if self._closing():
                    return
                self._sending = self._queue.popleft()
            if not self._send(self._sending):
                return
            self._sending = None

    def _send(self, body: bytes) -> bool:
        """Post ``body`` until the receiver takes or refuses it; False when the deadline that
        ``close`` sets passes first (``close`` cuts a pause short, not the retries)."""
        pause = self.backoff[0]
        while True:
            error = self._post(body)
            if error is None or error.startswith("refused"):
                self._delivered(error)
                return True
            if self._failing is None:
                log.warning("%s: %s; retrying, events kept meanwhile", self.url, error)
            self._failing = error
            with self._wake:
                left = pause if self._deadline is None else self._deadline - time.monotonic()
                if left > 0:
                    self._wake.wait(min(pause, left))
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    return False
            pause = min(pause * 2, self.backoff[1])

    def _delivered(self, refusal: str | None) -> None:
        if refusal:
            self.refused += 1
            log.warning("%s: event %s, not sent again", self.url, refusal)
        else:
            self.posted += 1
        if self._failing:
            log.warning("%s: delivering again", self.url)
            self._failing = None

    def _post(self, body: bytes) -> str | None:
        """None when the receiver took the event; else why not ("refused ..." for good)."""
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                return f"refused with HTTP {exc.code}"
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"cannot connect ({getattr(reason, 'strerror', None) or reason})"


class EventListener(Protocol):
    def write(self, event: dict) -> None: ...


class EventWriter:
    """One JSON object a line, flushed per event; ``-`` writes to stdout; each event is also
    handed to each of ``also`` (anything with ``write(event)``: the webhook, a Python caller's
    queue), whose owner closes it (a webhook may take a while).

    ``append`` keeps what the file holds: a live camera's run restarted with the same command
    line must not erase the plates it logged before (a file's run is repeatable, and replaces).
    """

    def __init__(self, path: Path | None, append: bool = False, also: Sequence[EventListener] = ()):
        self.path = path
        self.also = tuple(also)
        self.count = 0
        self.lock = threading.RLock()  # a live source's own events come from the decoding thread
        if path is None:
            self.file = None
        elif str(path) == "-":
            self.file = sys.stdout
        else:
            self.file = self._open("a" if append else "w")

    def _open(self, mode: str):
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            return open(self.path, mode, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise SinkError(
                f"cannot write events to {self.path}: {why_unwritable(exc, Path(self.path).parent)}"
            ) from None

    def reopen(self) -> None:
        """Go on in a new file of the same name, once logrotate (or a person) has moved the
        old one aside (SIGHUP, as daemons do): events written meanwhile went to the old file
        and stay there."""
        if self.file is None or self.file is sys.stdout:
            return
        with self.lock:
            self.file.close()
            self.file = self._open("a")

    def write(self, event: dict) -> None:
        with self.lock:
            self.count += 1
            for listener in self.also:
                listener.write(event)
            if self.file:
                try:
                    self.file.write(json.dumps(event, ensure_ascii=False) + "\n")
                    self.file.flush()
                except OSError as exc:  # a full disk, a closed pipe
                    if isinstance(exc, BrokenPipeError) and self.file is sys.stdout:
                        raise  # its reader quit (| head -1): the run ends as shell tools do
                    raise SinkError(
                        f"cannot write events to {self.path}: {exc.strerror or exc}"
                    ) from None

    def close(self) -> None:
        if self.file and self.file is not sys.stdout:
            self.file.close()


class CropWriter:
    """Evidence per event: the rectified plate above the frame region around it, one JPEG.

    ``prefix`` starts every file name: a live run's start time, so that a restarted run, whose
    track ids start again at 1, does not overwrite the crops its earlier events point to.
    """

    def __init__(self, folder: Path | None, prefix: str = ""):
        self.folder, self.prefix = folder, prefix
        if folder is not None:
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SinkError(
                    f"cannot create crops folder {folder}: {why_unwritable(exc, Path(folder))}"
                ) from None

    def write(self, name: str, plate: np.ndarray, frame: np.ndarray, box: np.ndarray) -> str | None:
        if self.folder is None:
            return None
        x1, y1, x2, y2 = box
        mx, my = (x2 - x1), (y2 - y1) * 2
        h, w = frame.shape[:2]
        context = frame[
            int(max(0, y1 - my)) : int(min(h, y2 + my)), int(max(0, x1 - mx)) : int(min(w, x2 + mx))
        ]
        if context.size == 0:
            context = plate
        scale = plate.shape[1] * 2 / context.shape[1]
        context = cv2.resize(context, None, fx=scale, fy=scale)
        plate_big = cv2.resize(
            plate, (context.shape[1], context.shape[1] * plate.shape[0] // plate.shape[1])
        )
        path = Path(self.folder) / f"{self.prefix}{name}.jpg"
        cv2.imwrite(str(path), np.vstack([plate_big, context]))
        return str(path)


def move_aside(path: Path) -> Path | None:
    """Rename an existing file to its name + its last modification time, and return the new
    path: a live run restarted with the same ``--output`` keeps the video recorded before (a
    video cannot be appended to)."""
    path = Path(path)
    if not path.is_file():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
    kept = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    try:
        path.rename(kept)
    except OSError as exc:
        raise SinkError(f"cannot keep the earlier {path}: {exc.strerror or exc}") from None
    return kept


#: An MP4 or MOV's index (its ``moov``) is normally written when the file is closed: a run
#: killed outright (``kill -9``, the power, the out-of-memory killer) left a live camera's
#: hours of video unplayable. Fragmented, the file is a short index followed by
#: self-describing pieces of about a second, and a cut file plays to its last whole piece.
FRAGMENTED_MP4 = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "1000000",  # microseconds
}


def muxer_options(path: Path) -> dict[str, str]:
    """FFmpeg muxer options for a video at ``path``: MP4 and MOV fragmented; other
    containers (Matroska) play when cut as they are."""
    return FRAGMENTED_MP4 if path.suffix.lower() in (".mp4", ".m4v", ".mov") else {}


class VideoWriter:
    """H.264 MP4 through PyAV; frames are placed at their source media time.

    The overlay is drawn on the I420 planes that are encoded: the decoder's own planes where the
    source gave them (no BGR copy, no BGR to YUV conversion: 4 of the 13 ms a 1080p frame took
    to annotate and encode), else the BGR frame converted once.
    """

    def __init__(
        self,
        path: Path,
        fps: float,
        size: tuple[int, int],
        crf: int = 28,
        threads: int = 1,
        origin: float = 0.0,
    ):
        """``origin``: the media time (s) placed at the video's start."""
        self.path = path = Path(path)
        self.origin = origin
        if not 0 <= crf <= 51:
            raise SinkError(f"video quality (x264 crf) must be 0-51, not {crf}")
        self.rate = Fraction(fps).limit_denominator(1001)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.open("wb").close()  # FFmpeg opens the file only at its first packet
        except OSError as exc:
            raise SinkError(
                f"cannot write video to {path}: {why_unwritable(exc, path.parent)}"
            ) from None
        try:
            self.container = av.open(str(path), "w", container_options=muxer_options(path))
            self.stream = self.container.add_stream("libx264", rate=self.rate)
        except (av.error.FFmpegError, ValueError) as exc:
            # PyAV says ValueError for a name with no container (``out``) and for a container
            # that cannot hold H.264 (``out.gif``, ``out.webm``)
            path.unlink(missing_ok=True)
            raise SinkError(
                f"cannot write an H.264 video to {path}: {exc} (name it .mp4, .mkv or .mov)"
            ) from None
        self._set_size(*size)
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"preset": "ultrafast", "crf": str(crf), "threads": str(threads)}
        self.last_pts = -1

    def write(
        self,
        image: np.ndarray | None,
        pts_seconds: float,
        tracks: Sequence[dict] = (),
        status: str = "",
        i420: np.ndarray | None = None,
        area: Sequence[int] | None = None,
    ) -> None:
        """Encode one frame with its overlay. ``i420`` (the same picture's planes, as decoded)
        is drawn on in place and encoded when it has the video's size; ``image`` may then be
        None (the planes stand for it). ``area`` is the part searched for plates, outlined."""
        pts = max(self.last_pts + 1, round((pts_seconds - self.origin) * self.rate))
        if self.last_pts < 0:  # the first frame sets the size: a rotated video's is turned
            h, w = image.shape[:2] if image is not None else (i420.shape[0] * 2 // 3, i420.shape[1])
            self._set_size(w, h)
        i420 = self._planes_to_encode(image, i420)
        annotate(I420Canvas(i420), tracks, status, area)
        frame = i420_frame(i420)
        frame.pts = pts
        frame.time_base = 1 / self.rate
        self.last_pts = pts
        try:
            self.container.mux(self.stream.encode(frame))
        except (OSError, av.error.FFmpegError) as exc:
            raise SinkError(f"cannot write video to {self.path}: {exc}") from None

    def _set_size(self, width: int, height: int) -> None:
        self.stream.width, self.stream.height = width - width % 2, height - height % 2

    def _planes_to_encode(self, image: np.ndarray | None, i420: np.ndarray | None) -> np.ndarray:
        """The decoded planes where they have the video's size; otherwise the picture, fitted
        to that size, converted to new planes."""
        h, w = self.stream.height, self.stream.width
        if i420 is not None and i420.shape == (h * 3 // 2, w):
            return i420
        if image is None:
            image = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
        return cv2.cvtColor(self._fit(image), cv2.COLOR_BGR2YUV_I420)

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """The frame at the video's size: trimmed to even sides, or scaled when a live stream
        came back at another resolution (an encoder's size is fixed)."""
        h, w = self.stream.height, self.stream.width
        if image.shape[0] in (h, h + 1) and image.shape[1] in (w, w + 1):
            return np.ascontiguousarray(image[:h, :w])
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)

    def close(self) -> None:
        try:
            self.container.mux(self.stream.encode(None))
        except (OSError, av.error.FFmpegError) as exc:
            raise SinkError(f"cannot finish video {self.path}: {exc}") from None
        finally:
            self.container.close()


class SegmentedVideo:
    """The annotated video cut into files of ``seconds`` of media time each, so that a camera
    watched for weeks is not one file of hundreds of gigabytes, and old footage can be removed
    by age (``find DIR -name 'annotated-*' -mtime +7 -delete``). Each file is ``path``'s name
    followed by, for a live source, the local time the file was begun
    (``annotated-20261205-213000.mp4``), for a file, its number (``annotated-000.mp4``)."""

    def __init__(self, path: Path, seconds: float, live: bool, *writer_args):
        self.path, self.seconds, self.live = Path(path), seconds, live
        self.writer_args = writer_args
        self.count = 0
        self.start: float | None = None
        self.writer = self._begin(0.0)  # now: a name that cannot be written fails the run at once

    def _begin(self, origin: float) -> VideoWriter:
        if self.live:
            label = time.strftime("%Y%m%d-%H%M%S")
        else:
            label = f"{self.count:03d}"
        self.count += 1
        name = self.path.with_name(f"{self.path.stem}-{label}{self.path.suffix}")
        path, n = name, 1
        while self.live and path.exists():  # a run begun again within the second
            path, n = name.with_stem(f"{name.stem}-{n}"), n + 1
        return VideoWriter(path, *self.writer_args, origin=origin)

    def write(self, image: np.ndarray | None, pts_seconds: float, *overlay, **named) -> None:
        """``VideoWriter.write``, into a new file once this one holds ``seconds``."""
        if self.start is None:
            self.start = self.writer.origin = pts_seconds
        elif pts_seconds - self.start >= self.seconds:
            self.writer.close()
            self.start = pts_seconds
            self.writer = self._begin(pts_seconds)
        self.writer.write(image, pts_seconds, *overlay, **named)

    def close(self) -> None:
        self.writer.close()


def i420_frame(planes: np.ndarray) -> av.VideoFrame:
    """A frame over the planes' own memory where PyAV can wrap them (a third of a 1080p frame's
    encoding time in the calling thread was ``from_ndarray``'s copy, 2.5 ms); x264 copies the
    picture while encoding it. PyAV misplaces the chroma of pictures whose height is not a
    multiple of 4, which are copied."""
    if planes.flags.c_contiguous and (planes.shape[0] * 2 // 3) % 4 == 0:
        return av.VideoFrame.from_numpy_buffer(planes, format="yuv420p")
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


@cache
def yuv_of(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """A BGR colour's Y, U and V, by the conversion the fallback path uses for whole frames
    (cached: the overlay uses a handful of colours on every frame)."""
    patch = np.empty((2, 2, 3), np.uint8)
    patch[:] = bgr
    planes = cv2.cvtColor(patch, cv2.COLOR_BGR2YUV_I420).ravel()
    return int(planes[0]), int(planes[4]), int(planes[5])


class I420Canvas:
    """OpenCV drawing on the three planes of an I420 picture, in place.

    Each shape is drawn on the luma plane at full size and on both chroma planes at half size,
    with the colour's Y, U and V values.
    """

    def __init__(self, planes: np.ndarray):
        y, u, v = i420_planes(planes)  # views: drawing writes into ``planes``
        self.height = y.shape[0]
        self.planes = ((y, 1.0), (u, 0.5), (v, 0.5))

    def _each(self, colour, draw) -> None:
        for (plane, scale), value in zip(self.planes, yuv_of(colour)):
            draw(plane, scale, value)

    def rectangle(self, p1, p2, colour, thickness: int) -> None:
        """``thickness`` -1 fills it."""
        self._each(
            colour,
            lambda img, s, v: cv2.rectangle(
                img, _at(p1, s), _at(p2, s), v, thickness if thickness < 0 else _thick(thickness, s)
            ),
        )

    def polygon(self, points: np.ndarray, colour, thickness: int) -> None:
        self._each(
            colour,
            lambda img, s, v: cv2.polylines(
                img, [np.int32(np.asarray(points) * s)], True, v, _thick(thickness, s)
            ),
        )

    def text(self, text: str, origin, scale: float, colour, thickness: int) -> None:
        self._each(
            colour,
            lambda img, s, v: cv2.putText(
                img, text, _at(origin, s), cv2.FONT_HERSHEY_SIMPLEX, scale * s, v,
                _thick(thickness, s),
            ),
        )  # fmt: skip


def _at(point, scale: float) -> tuple[int, int]:
    return int(point[0] * scale), int(point[1] * scale)


def _thick(thickness: int, scale: float) -> int:
    return max(1, round(thickness * scale))


def annotate(
    canvas: I420Canvas, tracks: list[dict], status: str, area: Sequence[int] | None = None
) -> None:
    """Boxes, corners, track ids and voted texts, a status line, and the searched area."""
    scale = max(0.5, canvas.height / 1080)
    if area is not None:
        canvas.rectangle(area[:2], area[2:], (200, 200, 200), max(1, int(scale)))
    for t in tracks:
        colour = (0, 220, 0) if t["text"] else (0, 200, 255)
        x1, y1, x2, y2 = (int(v) for v in t["box"])
        canvas.rectangle((x1, y1), (x2, y2), colour, max(1, int(2 * scale)))
        canvas.polygon(t["corners"], (255, 0, 255), 1)
        label = (
            f"#{t['id']} {ascii_text(t['text'])} {t['confidence']:.2f}"
            if t["text"]
            else f"#{t['id']}"
        )
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, 2)
        ty = max(th + 4, y1 - 6)
        canvas.rectangle((x1, ty - th - 4), (x1 + tw + 4, ty + 4), (0, 0, 0), -1)
        canvas.text(label, (x1 + 2, ty), 0.7 * scale, colour, 2)
    if status:
        canvas.rectangle((0, 0), (int(620 * scale), int(34 * scale)), (0, 0, 0), -1)
        canvas.text(status, (8, int(24 * scale)), 0.65 * scale, (255, 255, 255), 2)


def open_annotated_video(output: OutputConfig, source: VideoSource):
    """The annotated video's writer, or None: one file, or files of ``video_segment`` minutes.
    A live source's earlier file of the same name is kept under its time."""
    if not output.output:
        return None
    size = source.size or (1280, 720)
    writer_args = (source.fps, size, output.video_crf, output.video_threads)
    if output.video_segment:
        return SegmentedVideo(output.output, output.video_segment * 60, source.live, *writer_args)
    if source.live and (kept := move_aside(output.output)):
        logging.getLogger("platestream.video").warning(
            "the earlier %s is kept as %s", output.output, kept
        )
    return VideoWriter(output.output, *writer_args)
