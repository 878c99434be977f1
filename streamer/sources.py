"""Video sources: files, RTSP, HTTP(S) streams and webcams, decoded by PyAV into BGR frames.

A live source is never allowed to end the run by itself: when the server dies PyAV's decode
loop simply ends (no exception), when it freezes the socket timeout fires, and in both cases the
source reconnects with capped exponential backoff until told to stop (``max_reconnects``). A
corrupt packet or frame is skipped and counted, never fatal. Every frame carries its media time
(seconds from stream start, continued across reconnects; a live stream without timestamps of
its own, such as an MJPEG camera's, is timed by arrival) and, for live sources, its arrival time.
A camera's snapshot URL (one still picture per request) is asked again and again at a steady
rate, each answer a frame. Interlaced frames are woven whole before anything downstream sees them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.config import SourceConfig

log = logging.getLogger("platestream.source")

LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "srt://")
#: streams that may also be finite media (a clip on a web server), told apart by their duration
MAYBE_FINITE_SCHEMES = ("http://", "https://")
#: demuxers that number the frames at a guessed 25 fps instead of timing them: an MJPEG camera's
#: multipart HTTP stream (``mpjpeg``) or bare JPEGs. A live source read by one is timed by the
#: frames' arrival; a camera sending 5 fps would otherwise run five times slow in media time.
UNTIMED_FORMATS = frozenset({"mpjpeg", "mjpeg", "jpeg_pipe", "image2pipe"})
#: requests a second to a camera's snapshot URL unless ``SourceConfig.frame_rate`` says: about
#: what such cameras answer at 1080p, and a passing plate is still in several of the pictures
SNAPSHOT_RATE = 5.0


#: colour spaces of BT.601 YUV (unspecified, BT470BG, SMPTE170M): what swscale assumes by default
BT601_COLORSPACES = (2, 5, 6)
#: colour ranges of limited-range ("MPEG") YUV: unspecified and MPEG; 2 is full-range JPEG
LIMITED_RANGES = (0, 1)


def frame_pixels(frame: av.VideoFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The frame's pixels: (None, its I420 planes) where it is I420 already and needs no
    turning, else (BGR turned upright, None).

    For the common case, limited-range BT.601 yuv420p with even sides, the planes are all the
    pipeline needs: the detector scales them before converting, a plate is rectified from them,
    and the annotated video draws on them and encodes them as they are. ``Frame.image`` converts
    them with OpenCV (the same pixels within 3 levels as swscale's ``bgr24`` in a third of the
    time) only if asked. Any other frame is left to swscale, which knows every format.
    """
    if frame.rotation:  # a phone's portrait or upside-down video, turned as players show it
        return np.ascontiguousarray(
            np.rot90(frame.to_ndarray(format="bgr24"), frame.rotation // 90)
        ), None
    if (
        frame.format.name == "yuv420p"
        and frame.width % 2 == 0
        and frame.height % 2 == 0
        and frame.colorspace in BT601_COLORSPACES
        and frame.color_range in LIMITED_RANGES
    ):
        return None, frame.to_ndarray()
    return frame.to_ndarray(format="bgr24"), None


#: which frames bwdif weaves, for each ``SourceConfig.deinterlace`` that uses it
BWDIF_FRAMES = {"auto": "interlaced", "on": "all"}


def deinterlaced(
    frames: Iterator[av.VideoFrame], mode: str
) -> Iterator[tuple[av.VideoFrame, bool]]:
    """The frames, each with whether it was woven into a whole picture by FFmpeg's bwdif.

    An analogue camera behind a DVR sends frames whose two fields were taken 1/50 s apart, so
    a passing plate's characters get comb teeth as wide as its motion, which neither model was
    trained on. bwdif fills each field's missing lines from both fields and the frames beside
    it, as players do ("auto": the frames the decoder marks as interlaced; 0.5 ms a 1080p
    frame here). It holds one frame back, given out when the frames end; a change of frame
    size or format starts a new filter.
    """
    graph, shape = None, None
    for frame in frames:
        if graph is not None and shape != _shape(frame):
            yield from _flushed(graph)
            graph = None
        if graph is None and mode != "off" and (mode == "on" or frame.interlaced_frame):
            graph, shape = _bwdif(frame, BWDIF_FRAMES[mode]), _shape(frame)
        if graph is None:
            yield frame, False
            continue
        graph.push(frame)
        yield from _pulled(graph)
    if graph is not None:
        yield from _flushed(graph)


def _shape(frame: av.VideoFrame) -> tuple[int, int, str]:
    return frame.width, frame.height, frame.format.name


def _bwdif(frame: av.VideoFrame, which: str) -> av.filter.Graph:
    """A filter graph that gives one woven frame for each frame it is given."""
    log.info("weaving %s %dx%d frames (bwdif)", which, frame.width, frame.height)
    graph = av.filter.Graph()
    source = graph.add_buffer(
        width=frame.width,
        height=frame.height,
        format=frame.format.name,
        time_base=frame.time_base or Fraction(1, 90000),  # a frame without one has no pts
    )
    weave = graph.add("bwdif", f"mode=send_frame:parity=auto:deint={which}")
    source.link_to(weave)
    weave.link_to(graph.add("buffersink"))
    graph.configure()
    return graph


def _pulled(graph: av.filter.Graph) -> Iterator[tuple[av.VideoFrame, bool]]:
    while True:
        try:
            yield graph.pull(), True
        except (av.error.BlockingIOError, av.error.EOFError):
            return


def _flushed(graph: av.filter.Graph) -> Iterator[tuple[av.VideoFrame, bool]]:
    graph.push(None)
    yield from _pulled(graph)


class SourceError(RuntimeError):
    """A source that cannot be opened at all (as opposed to a live stream that dropped)."""


@dataclass
class Frame:
    index: int  # decoded frames so far, from 0
    pts: float  # media time in seconds from stream start
    wallclock: float | None  # time.time() at arrival, for live sources
    #: reconnects before this frame: a live stream's frames of one connection share it
    segment: int = 0
    #: the decoded I420 planes, (H*3/2)xW uint8, where the stream was limited-range BT.601
    #: yuv420p; the annotated video draws on them in place
    i420: np.ndarray | None = None
    #: BGR, HxWx3 uint8: given where there are no planes, else converted on first use
    bgr: np.ndarray | None = None

    @property
    def image(self) -> np.ndarray:
        """The frame as BGR. Where only planes were decoded, the conversion (1.2-2.3 ms for a
        1080p frame) is paid by the few frames that need it, such as an evidence crop's."""
        if self.bgr is None:
            self.bgr = cv2.cvtColor(self.i420, cv2.COLOR_YUV2BGR_I420)
        return self.bgr

    @property
    def size(self) -> tuple[int, int]:
        if self.bgr is not None:
            return self.bgr.shape[1], self.bgr.shape[0]
        return self.i420.shape[1], self.i420.shape[0] * 2 // 3


@dataclass
class SourceStats:
    frames: int = 0
    decode_errors: int = 0
    #: interlaced frames woven whole (``deinterlaced``)
    woven: int = 0
    reconnects: int = 0
    #: seconds of live stream lost to outages
    gap_seconds: float = 0.0
    events: list[str] = field(default_factory=list)


#: a printf-style frame number in a file name (``frames/%05d.jpg``): FFmpeg's image2 demuxer
#: reads the numbered images as one video, at 25 fps
FRAME_NUMBER = re.compile(r"%0?\d*d")


def is_image_sequence(source: str) -> bool:
    return FRAME_NUMBER.search(Path(source).name) is not None


def source_kind(source: str) -> str:
    """'webcam', 'stream' or 'file'."""
    if re.fullmatch(r"\d+", source) or source.startswith("/dev/video"):
        return "webcam"
    if source.lower().startswith(LIVE_SCHEMES):
        return "stream"
    return "file"


def _open_options(source: str, kind: str, config: SourceConfig) -> tuple[str, dict, str | None]:
    """The URL, FFmpeg options and forced format for ``av.open``."""
    if kind == "webcam":
        device = f"/dev/video{source}" if source.isdigit() else source
        return device, {}, "v4l2"
    if kind == "stream" and source.lower().startswith(("rtsp://", "rtsps://")):
        # a small probe starts the stream in ~0.1 s instead of ~1 s
        opts = {
            "rtsp_transport": config.rtsp_transport,
            "probesize": "32768",
            "analyzeduration": "0",
        }
        return source, opts, None
    if kind == "file" and config.frame_rate:  # read by the demuxers of untimed files only
        return source, {"framerate": f"{config.frame_rate:g}"}, None
    return source, {}, None


def is_finite(source: str, container) -> bool:
    """Whether an HTTP(S) URL is a clip with a known length rather than a live stream."""
    return source.lower().startswith(MAYBE_FINITE_SCHEMES) and bool(container.duration)


def is_snapshot(source: str, container) -> bool:
    """Whether an HTTP(S) URL answers with one still picture, as a camera's snapshot URL does:
    FFmpeg reads it with a single-image demuxer (``image2`` by the name's extension, a
    ``*_pipe`` one by the content), decodes one frame, and ends."""
    names = container.format.name.split(",")
    return source.lower().startswith(MAYBE_FINITE_SCHEMES) and any(
        name == "image2" or (name.endswith("_pipe") and name != "image2pipe") for name in names
    )


def without_password(url: str) -> str:
    """``url`` with its password masked (``rtsp://admin:***@camera/stream``): the source's
    name in events, logs, errors and the webhook's summary, which other people read; a
    camera's password stays on the command line or in the config file it came from."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL (a path, a webcam index)
        return url
    if not password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def _describe(exc: BaseException) -> str:
    """An error's first line; of an OS or FFmpeg error only its reason: "Invalid data found
    when processing input", not "[Errno 1094995529] Invalid data found when processing input:
    'clip.mp4'", whose number means nothing to a user and whose file the message names."""
    reason = getattr(exc, "strerror", None)  # OSError's and av.FFmpegError's
    text = reason if isinstance(reason, str) and reason.strip() else str(exc).strip()
    return (text or type(exc).__name__).splitlines()[0]


class VideoSource:
    """Iterates frames of one source; ``live`` sources reconnect, files end at their end."""

    def __init__(self, source: str, config: SourceConfig | None = None):
        self.url = source  # what is opened
        self.source = without_password(source)  # what is shown
        self.config = config or SourceConfig()
        self.kind = source_kind(source)
        self.live = self.kind != "file"
        self.stats = SourceStats()
        self.stopped = threading.Event()
        self.fps = 25.0
        self.size: tuple[int, int] | None = None
        #: frames are timed by their arrival, the stream's own timestamps being made up
        self.timed_by_arrival = False
        #: a snapshot URL, asked for a picture ``fps`` times a second
        self.snapshot = False
        #: a live source between losing its stream and the next frame after reconnecting
        self.reconnecting = False
        #: told of a live stream's changes, from the decoding thread: ``("lost", {"reason",
        #: "last_pts"})``, ``("back", {"gap_seconds", "reconnects"})``, ``("given_up",
        #: {"attempts"})``
        self.on_change: Callable[[str, dict], None] | None = None
        if self.kind == "file" and not (Path(source).exists() or is_image_sequence(source)):
            raise SourceError(f"no such file: {source}")
        self._container = self._open()  # fail early and clearly if it cannot be opened at all
        if self.kind == "stream" and is_snapshot(source, self._container):
            self.snapshot = True
            self._take_timing(self._container.streams.video[0])
        elif self.kind == "stream" and is_finite(source, self._container):
            # a clip served over HTTP is a file: every frame processed, its end is the end
            self.live = False

    def _open(self):
        url, options, fmt = _open_options(self.url, self.kind, self.config)
        timeout = self.config.timeout if self.live else None
        try:
            container = av.open(url, format=fmt, options=options, timeout=timeout)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open {self.source}: {self._describe(exc)}") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.source} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        self._take_timing(stream)
        if stream.codec_context.width:
            self.size = (stream.codec_context.width, stream.codec_context.height)
        return container

    def _take_timing(self, stream) -> None:
        """The frame rate and the clock of the frames: the stream's own, or their arrival where
        the stream's are made up (an MJPEG camera's) or there are none (a snapshot URL's)."""
        if self.snapshot:
            self.fps = self.config.frame_rate or SNAPSHOT_RATE
            self.timed_by_arrival = True
            return
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else self.fps
        self.timed_by_arrival = self.live and bool(
            UNTIMED_FORMATS & set(stream.container.format.name.split(","))
        )

    def stop(self) -> None:
        self.stopped.set()

    def frames(self) -> Iterator[Frame]:
        """Decoded frames until the file ends, or (live) until stopped or out of reconnects."""
        pts_offset, container = 0.0, self._container
        failures, outage_start = 0, 0.0
        first_request = time.monotonic()
        while not self.stopped.is_set():
            last_pts, requested = None, time.monotonic()
            noted = len(self.stats.events)  # what this open of the stream says went wrong
            if self.snapshot:  # each answer is timed from the first request
                pts_offset = requested - first_request
            try:
                for frame in self._decode(container, pts_offset):
                    if self.reconnecting:  # pictures again, not merely a stream that opened
                        gap = round(time.time() - outage_start, 2)
                        self._tell("back", gap_seconds=gap, reconnects=self.stats.reconnects)
                    failures, self.reconnecting = 0, False
                    last_pts = frame.pts
                    yield frame
                    if self.stopped.is_set():
                        break
            finally:
                container.close()
            if not self.live or self.stopped.is_set():
                self._check_decoded_something()
                return
            container = None
            if self.snapshot and last_pts is not None:
                container = self._next_snapshot(requested)
                if container is not None:
                    continue
            if not self.reconnecting:
                reason = self.stats.events[-1] if len(self.stats.events) > noted else "stream ended"
                shown_pts = None if last_pts is None else round(last_pts, 3)
                self._tell("lost", reason=reason, last_pts=shown_pts)
            self.reconnecting, outage_start = True, time.time()
            pts_offset = (last_pts if last_pts is not None else pts_offset) + 1.0 / self.fps
            while container is None and not self.stopped.is_set():
                failures += 1
                if self.config.max_reconnects is not None and failures > self.config.max_reconnects:
                    self._note(f"giving up after {failures - 1} reconnect attempts")
                    self._tell("given_up", attempts=failures - 1)
                    return
                delay = min(
                    self.config.backoff_max, self.config.backoff_initial * 2 ** (failures - 1)
                )
                self._note(f"stream lost; reconnecting in {delay:.1f} s (attempt {failures})")
                self.stopped.wait(delay)
                try:
                    container = self._open()
                except SourceError as exc:
                    self._note(str(exc))
            if container is not None:
                gap = time.time() - outage_start
                self.stats.reconnects += 1
                self.stats.gap_seconds += gap
                pts_offset += gap
                self._note(f"reconnected after {gap:.1f} s")

    def _next_snapshot(self, requested: float):
        """The snapshot URL opened for its next picture, ``1 / fps`` after the last request
        (at once if answering took longer); None if it did not open, an outage like any other."""
        self.stopped.wait(max(0.0, requested + 1.0 / self.fps - time.monotonic()))
        if self.stopped.is_set():
            return None
        try:
            return self._open()
        except SourceError as exc:
            self._note(str(exc))
            return None

    def _decode(self, container, pts_offset: float) -> Iterator[Frame]:
        # a frame's time from this open is its timestamp minus `base`; `last` is the previous one's
        base, last = None, -1.0 / self.fps
        opened = time.monotonic()
        for frame, woven in deinterlaced(self._decoded(container), self.config.deinterlace):
            if self.timed_by_arrival:  # the demuxer's timestamps are frame numbers
                last = max(time.monotonic() - opened, last + 1e-3)
            else:
                expected = last + 1.0 / self.fps
                if frame.time is not None and (base is None or frame.time - base <= last):
                    # an RTSP stream's first frames may have no timestamp, and a server that
                    # restarts or seeks its stream sends time backwards: continue at the nominal
                    # spacing from the previous frame, so that media time always increases
                    base = frame.time - expected
                last = frame.time - base if frame.time is not None else expected
            bgr, i420 = frame_pixels(frame)
            out = Frame(
                bgr=bgr,
                i420=i420,
                index=self.stats.frames,
                pts=pts_offset + last,
                wallclock=time.time() if self.live else None,
                segment=self.stats.reconnects,
            )
            self.size = out.size
            self.stats.frames += 1
            self.stats.woven += woven
            yield out

    def _decoded(self, container) -> Iterator[av.VideoFrame]:
        """The frames of one open of the source, its corrupt packets skipped and counted."""
        packets = container.demux(container.streams.video[0])
        while True:
            asked = time.monotonic()
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.error.TimeoutError, av.error.ExitError, OSError) as exc:
                if self.live:
                    self._note(f"stream error: {self._describe(exc)}")
                    return
                raise SourceError(f"cannot read {self.source}: {self._describe(exc)}") from None
            except av.error.FFmpegError as exc:
                self.stats.decode_errors += 1
                self._note(f"demux error skipped: {self._describe(exc)}")
                if not self.live:
                    return
                continue
            try:
                yield from packet.decode()
            except av.error.FFmpegError as exc:
                self.stats.decode_errors += 1
                log.info("%s: corrupt packet skipped: %s", self.source, self._describe(exc))
            if self.live and time.monotonic() - asked >= self.config.timeout:
                # the read timed out and got only what the demuxer held back (RTSP's reordering
                # queue gives up its last packet), so the stream froze: lost now, not after a
                # second timeout
                self._note(f"stream error: no packet for {self.config.timeout:g} s")
                return

    def _check_decoded_something(self) -> None:
        """A file that opens but yields no picture (unsupported codec, all corrupt) is an error,
        not an empty run that looks like a success."""
        if self.stats.frames == 0 and self.stats.decode_errors and not self.stopped.is_set():
            raise SourceError(
                f"no frame of {self.source} could be decoded "
                f"({self.stats.decode_errors} decode errors)"
            )

    def _describe(self, exc: BaseException) -> str:
        """An error's first line, any URL in it without its password."""
        return _describe(exc).replace(self.url, self.source)

    def _tell(self, change: str, **details) -> None:
        if self.on_change:
            self.on_change(change, details)

    def _note(self, message: str) -> None:
        self.stats.events.append(message)
        log.warning("%s: %s", self.source, message)
