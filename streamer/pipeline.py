"""The stream pipeline: decode -> detect -> track + read -> write.

Stages are joined by bounded queues; ONNX Runtime and FFmpeg release the GIL, so the stages
overlap on a 2-core machine. Detection, the costliest stage, runs in several threads at once
(``DetectorConfig.workers``) on one thread-safe session; each frame gets a sequence number when
it is taken, and tracking puts the frames back in that order. A live source never waits for
the pipeline: when the queue is full the oldest frame is dropped (and counted), keeping the
newest. A file is never dropped from; it runs as fast as the slowest stage, or at its own frame
rate with ``realtime``. Stopping (end of input, an error, SIGINT/SIGTERM) lets every frame
already decoded flow through, ends all tracks (emitting their events) and closes the video, so
nothing already seen is lost.

A track's event is written when the track ends, or earlier once its text is stable (voting's
``final_reads``); a live stream that drops ends every track once it has been gone longer than a
track may go unseen, without waiting for it to come back.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from streamer.config import Config, ConfigError, OutputConfig
from streamer.detector import Detection, Detector
from streamer.recognizer import Recognizer
from streamer.sinks import (
    CropWriter,
    EventListener,
    EventWriter,
    VideoWriter,
    open_annotated_video,
)
from streamer.sources import Frame, VideoSource, source_kind
from streamer.tracker import Track, Tracker
from streamer.voting import ReadScheduler, TrackText
from streamer.watchlist import Sighting, Watchlist

log = logging.getLogger("platestream.pipeline")

END = object()  # end-of-stream marker passed down the queues
IDLE = object()  # what a get that was given an idle time returns when nothing came in it
#: seconds a live stream's tracking stage waits for a frame before it looks at the source
IDLE_CHECK = 0.2


class Link:
    """A bounded queue between stages that knows the threads at both of its ends.

    A put gives up once no consumer is left and a get ends the stream once no producer is
    left, so a crashed stage can neither hang the run nor cut off what the stages still alive
    pass on (the frames detected before a crash still reach the video).
    """

    def __init__(self, size: int):
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.producers: list[threading.Thread] = []
        self.consumers: list[threading.Thread] = []

    def put(self, item) -> None:
        while True:
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if not any(t.is_alive() for t in self.consumers):
                    return

    def put_newest(self, item) -> int:
        """Put without waiting, dropping the oldest items to make room: how many were dropped."""
        dropped = 0
        while True:
            try:
                self.queue.put_nowait(item)
                return dropped
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    dropped += 1
                except queue.Empty:
                    pass

    def get(self, idle: float | None = None):
        """The next item; END once no producer is left; IDLE after ``idle`` seconds without
        an item, if given."""
        deadline = None if idle is None else time.monotonic() + idle
        while True:
            try:
                return self.queue.get(timeout=0.2 if idle is None else min(0.2, idle))
            except queue.Empty:
                if not any(t.is_alive() for t in self.producers):
                    try:  # the last producer may have put something just before it ended
                        return self.queue.get_nowait()
                    except queue.Empty:
                        return END
                if deadline is not None and time.monotonic() >= deadline:
                    return IDLE


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    frames: int = 0
    dropped: int = 0
    plates: int = 0
    reads: int = 0
    active_tracks: int = 0
    #: recent per-stage latencies, bounded so that a long stream keeps a flat memory
    stage_ms: dict[str, deque] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=5000))
    )
    #: plate events per text, for the summary (a looping or long stream repeats plates)
    texts: Counter = field(default_factory=Counter)

    @property
    def fps(self) -> float:
        return self.frames / max(time.time() - self.started, 1e-6)


def seen_at(frame: Frame) -> str:
    """When a frame was seen, for the annotated video's status line: a live source's local
    clock, a file's media time."""
    if frame.wallclock is not None:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(frame.wallclock))
    return f"t {frame.pts:7.2f} s"


def iso_time(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds") if t else None


@dataclass
class TrackTimes:
    first_pts: float
    first_wallclock: float | None
    last_pts: float = 0.0
    last_wallclock: float | None = None


@dataclass
class PlateView:
    """A track's plate in one frame, cut out to be read."""

    track: Track
    frame: Frame
    detection: Detection
    crop: np.ndarray
    quality: float


def check_output_names(source: str, output: OutputConfig) -> None:
    """Outputs are opened before the input is read: one named like the input file would empty
    it, and two outputs named alike would write over each other. Either is a user's slip that
    must cost nothing."""
    taken = [("the input", Path(source))] if source_kind(source) == "file" else []
    for flag, name in (("--output", output.output), ("--events", output.events)):
        if name is None or str(name) == "-":
            continue
        for what, other in taken:
            if same_file(Path(name), other):
                raise ConfigError(f"{flag} {name} is {what}: choose another name")
        taken.append((flag, Path(name)))


def same_file(a: Path, b: Path) -> bool:
    """The same file by name, through links, or by inode where both exist."""
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)


class Pipeline:
    def __init__(
        self,
        source: VideoSource,
        config: Config,
        detector: Detector,
        recognizer: Recognizer,
        events: EventWriter,
        crops: CropWriter,
        video: VideoWriter | None = None,
        watchlist: Watchlist | None = None,
    ):
        self.source, self.config, self.watchlist = source, config, watchlist
        self.detector, self.recognizer = detector, recognizer
        self.events, self.crops, self.video = events, crops, video
        high = detector.score_threshold
        detector.score_threshold = high * config.tracker.low_score_factor  # weak ones for pass 2
        detector.pace(source.fps)
        self.tracker = Tracker(config.tracker, high_score=high)
        self.scheduler = ReadScheduler(config.voting)
        self.stats = Stats()
        self.times: dict[int, TrackTimes] = {}
        self.last_texts: dict[int, str] = {}
        self.last_frame: Frame | None = None  # the previous frame tracked
        #: per tentative track, a copy of the frame it was first seen in (``_note_first_sights``)
        self.first_sights: dict[int, Frame] = {}
        size = config.source.queue_size
        self.frames_q, self.detected_q, self.video_q = Link(size), Link(size), Link(size)
        self.take_lock = threading.Lock()  # a frame's sequence number is the order it was taken
        self.taken = 0
        self.workers = self.detect_workers_left = max(1, config.detector.workers)
        self.error: BaseException | None = None
        #: media time cut out of the annotated video, and the state of that cutting
        #: (``_records``)
        self.video_cut = 0.0
        self.recording = False
        self.last_recorded: Frame | None = None
        if config.output.source_events:
            source.on_change = self._write_source_event

    @classmethod
    def from_config(
        cls, source: str, config: Config, also: Sequence[EventListener] = ()
    ) -> Pipeline:
        """The whole run of ``platestream run SOURCE`` as ``config`` describes it: models,
        source, events (each also handed to ``also``), crops, annotated video and watchlist.
        A live source appends to the events file and stamps its crops with the run's start,
        so a restarted run keeps what the one before wrote."""
        check_output_names(source, config.output)
        detector = Detector(config.detector)
        recognizer = Recognizer(config.recognizer)
        video_source = VideoSource(source, config.source)
        output = config.output
        watchlist = Watchlist.load(output.watchlist) if output.watchlist else None
        events = EventWriter(output.events, append=video_source.live, also=also)
        stamp = time.strftime("%Y%m%d-%H%M%S-") if video_source.live else ""
        crops = CropWriter(output.crops, stamp)
        video = open_annotated_video(output, video_source)
        return cls(video_source, config, detector, recognizer, events, crops, video, watchlist)

    def _write_source_event(self, change: str, details: dict) -> None:
        """A live stream dropped, came back or was given up on (``OutputConfig.source_events``)."""
        self.events.write({
            "type": f"source_{change}",
            "source": self.source.source,
            "wallclock": iso_time(time.time()),
            **details,
        })  # fmt: skip

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish gracefully: stop reading, let what is queued through, end all tracks."""
        self.source.stop()

    def run(self, progress=None) -> Stats:
        decode = [self._thread(self._read_loop, "decode")]
        detect = [self._thread(self._detect_loop, f"detect{i}") for i in range(self.workers)]
        track = [self._thread(self._track_loop, "track")]
        video = [self._thread(self._video_loop, "video")] if self.video else []
        self.frames_q.producers, self.frames_q.consumers = decode, detect
        self.detected_q.producers, self.detected_q.consumers = detect, track
        self.video_q.producers, self.video_q.consumers = track, video
        threads = decode + detect + track + video
        self.stats.started = time.time()
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                threads[-1].join(timeout=0.5)
                if progress:
                    progress(self.stats)
        except Exception:
            # the stages are daemon threads: leaving now would cut the video off unwritten
            self.stop()
            for t in threads:
                t.join()
            raise
        if self.error:
            raise self.error
        return self.stats

    def _thread(self, loop, name: str) -> threading.Thread:
        return threading.Thread(target=self._guard, args=(loop,), name=name, daemon=True)

    def _guard(self, loop) -> None:
        """Run a stage; on a crash, record the error and stop the whole pipeline cleanly."""
        try:
            loop()
        except BaseException as exc:  # noqa: BLE001 - re-raised by run() in the main thread
            self.error = self.error or exc
            self.stop()

    # -- stages ----------------------------------------------------------------------------

    def _read_loop(self) -> None:
        start = time.time()
        t0 = time.perf_counter()
        for frame in self.source.frames():
            self._time("decode", t0)
            if self.config.source.realtime and not self.source.live:
                delay = start + frame.pts - time.time()
                if delay > 0:
                    time.sleep(delay)
            if self.source.live:  # never block the camera: drop the oldest queued frame
                self.stats.dropped += self.frames_q.put_newest(frame)
            else:
                self.frames_q.put(frame)
            t0 = time.perf_counter()
        self.frames_q.put(END)

    def _take_frame(self) -> tuple[int, object]:
        """The next frame and its sequence number; END is put back for the other workers."""
        with self.take_lock:
            frame = self.frames_q.get()
            if frame is END:
                self.frames_q.put(END)
                return self.taken, END
            self.taken += 1
            return self.taken - 1, frame

    def _detect_loop(self) -> None:
        while (taken := self._take_frame())[1] is not END:
            seq, frame = taken
            t0 = time.perf_counter()
            detections = self.detector.detect_frame(frame)
            self._time("detect", t0)
            self.detected_q.put((seq, frame, detections))
        with self.take_lock:
            self.detect_workers_left -= 1
            last = self.detect_workers_left == 0
        if last:  # every frame taken is detected: END comes after all of them
            self.detected_q.put((taken[0], END, []))

    def _detections_in_order(self):
        """(frame, detections) in the order the frames were taken, whichever worker finished
        first; for a live source, (IDLE, []) every ``IDLE_CHECK`` seconds without a frame."""
        pending: dict[int, tuple] = {}
        expected = 0
        idle = IDLE_CHECK if self.source.live else None
        while (item := self.detected_q.get(idle)) is not END:
            if item is IDLE:
                yield IDLE, []
                continue
            seq, frame, detections = item
            pending[seq] = (frame, detections)
            while expected in pending:
                frame, detections = pending.pop(expected)
                expected += 1
                if frame is END:
                    return
                yield frame, detections

    def _track_loop(self) -> None:
        for frame, detections in self._detections_in_order():
            if frame is IDLE:
                self._end_tracks_of_a_lost_stream()
                continue
            if self._after_outage(frame) or self._resized(frame):
                self._finish_tracks(self.tracker.finish())
            t0 = time.perf_counter()
            ended = self.tracker.update(detections, frame.index, frame.pts)
            self._note_times(frame)
            self._time("track", t0)
            self._read_tracks(frame)
            self._note_first_sights(frame)
            self._finish_tracks(ended)
            self.last_frame = frame
            self.stats.frames += 1
            self.stats.active_tracks = len(self.tracker.confirmed())
            if self.video and self._records(frame):
                self.video_q.put((frame, self._overlay(), frame.pts - self.video_cut))
        self._finish_tracks(self.tracker.finish())
        self.video_q.put(END)

    def _records(self, frame: Frame) -> bool:
        """Whether the annotated video takes this frame (``OutputConfig.video_when``); the
        media time of frames it left out is cut from the video (``video_cut``)."""
        if self.config.output.video_when == "always":
            return True
        if not self.tracker.tracks:
            self.recording = False
            return False
        last = self.last_recorded
        if last is None:  # the video starts with its first plate
            self.video_cut = frame.pts
        elif not self.recording:
            self.video_cut += frame.pts - last.pts - 1.0 / self.source.fps
        self.recording, self.last_recorded = True, frame
        return True

    def _after_outage(self, frame: Frame) -> bool:
        """Whether a live stream came back after longer than a track may go unseen.

        Tracks do not span such an outage: a car waiting at a barrier when the camera came back
        is not the one that waited there before, and voting their reads together mixes plates.
        """
        last = self.last_frame
        if last is None or frame.segment == last.segment:
            return False
        gap = frame.pts - last.pts
        if gap <= self._longest_unseen():
            return False
        log.info("stream back after %.1f s: ending %d tracks", gap, len(self.tracker.tracks))
        return True

    def _resized(self, frame: Frame) -> bool:
        """Whether the frames changed size (a live stream back at another resolution).

        Tracks do not span it: their boxes, motion and the plate sizes that rank their views
        are in the old frame's pixels, and a box of the new size that happened to overlap an
        old one would vote another car's reads into its track.
        """
        last = self.last_frame
        if last is None or frame.size == last.size:
            return False
        width, height = frame.size
        log.info("frames now %dx%d: ending %d tracks", width, height, len(self.tracker.tracks))
        return True

    def _end_tracks_of_a_lost_stream(self) -> None:
        """End every track of a live stream that has been lost for longer than a track may go
        unseen: they would end when it came back (``_after_outage``), and their events would wait
        for that, an hour for an hour's outage, or for the end of the run."""
        last = self.last_frame
        if not (self.source.reconnecting and last is not None and self.tracker.tracks):
            return
        silence = time.time() - last.wallclock
        if silence > self._longest_unseen():
            log.info("stream lost %.1f s ago: ending %d tracks", silence, len(self.tracker.tracks))
            self._finish_tracks(self.tracker.finish())
            self.stats.active_tracks = 0

    def _longest_unseen(self) -> float:
        """Seconds a track may go without a frame: its frames' or its seconds' limit."""
        tracker = self.config.tracker
        return min((tracker.max_lost + 1) / self.source.fps, tracker.max_lost_seconds)

    def _video_loop(self) -> None:
        try:
            while (item := self.video_q.get()) is not END:
                frame, overlay, pts = item
                t0 = time.perf_counter()
                status = (
                    f"{seen_at(frame)}  fps {self.stats.fps:5.1f}  frame {frame.index}  "
                    f"drops {self.stats.dropped}  tracks {self.stats.active_tracks}  "
                    f"plates {self.stats.plates}"
                )
                area = self.detector.search_area(frame.size) if self.config.detector.roi else None
                self.video.write(frame.bgr, pts, overlay, status, frame.i420, area)
                self._time("encode", t0)
        finally:
            self.video.close()  # what was written stays playable, whatever stopped the run

    # -- tracking and reading --------------------------------------------------------------

    def _note_times(self, frame: Frame) -> None:
        for t in self.tracker.tracks:
            if t.matched:
                times = self.times.setdefault(t.id, TrackTimes(frame.pts, frame.wallclock))
                times.last_pts, times.last_wallclock = frame.pts, frame.wallclock

    def _read_tracks(self, frame: Frame) -> None:
        """Read the confirmed tracks whose view improved, in one recognizer batch."""
        views = [
            view
            for track in self.tracker.confirmed()
            for view in (self._first_view(track, frame), self._view(track, frame, track.detection))
            if view is not None
        ]
        if not views:
            return
        t0 = time.perf_counter()
        readings = self.recognizer.recognize([view.crop for view in views])
        self._time("recognize", t0)
        for view, reading in zip(views, readings):
            track = view.track
            read = self.scheduler.add(
                track.id, reading, view.frame.index, view.frame.pts, view.quality, view.detection
            )
            self.stats.reads += 1
            if read.rejected is not None:
                log.debug("track %d: read %r rejected: %s", track.id, reading.text, read.rejected)
                continue
            if self.crops.folder is not None:
                read.evidence = (view.crop, view.frame.image, view.detection.box.copy())
            if self.config.voting.updates:
                self._maybe_update(track, frame)
            self._maybe_final(track.id)

    def _note_first_sights(self, frame: Frame) -> None:
        """Keep a copy of this frame for the tracks it started, where frames come further apart
        than the read interval: at a few frames a second a receding plate's first view is its
        best, and the views that follow its confirmation are soon too small (sample street
        clip at 3 fps: 171 pixels wide when first seen, 103 when confirmed, 63 at the next
        read). A copy, since the annotated video draws on the frame's own planes."""
        last = self.last_frame
        if last is None or frame.pts - last.pts < self.config.voting.read_interval:
            return
        started = [t for t in self.tracker.tracks if t.hits == 1 and t.first_frame == frame.index]
        if not started:
            return
        copy = frame if frame.i420 is None else dataclasses.replace(frame, i420=frame.i420.copy())
        for track in started:
            self.first_sights[track.id] = copy

    def _first_view(self, track: Track, frame: Frame) -> PlateView | None:
        """The plate as the track first saw it, read when the track is confirmed on a frame
        further from that one than the read interval."""
        seen = self.first_sights.pop(track.id, None)
        if seen is None or frame.pts - seen.pts < self.config.voting.read_interval:
            return None
        return self._view(track, seen, track.first_detection)

    def _view(self, track: Track, frame: Frame, detection: Detection) -> PlateView | None:
        """The track's plate in ``frame``, if the scheduler wants it read."""
        if not self.scheduler.due(track.id, detection, frame.pts):
            return None
        crop = self.recognizer.rectify_frame(frame, detection.corners)
        quality = self.scheduler.wants_read(track.id, detection, crop, frame.pts)
        return None if quality is None else PlateView(track, frame, detection, crop, quality)

    def _maybe_update(self, track: Track, frame: Frame) -> None:
        text, confidence, _ = self.scheduler.texts[track.id].fused()
        if text and text != self.last_texts.get(track.id):
            self.last_texts[track.id] = text
            self.events.write({
                "type": "plate_update", "source": self.source.source, "track_id": track.id,
                "text": text, "confidence": round(confidence, 4), "pts": round(frame.pts, 3),
                "wallclock": iso_time(frame.wallclock),
            })  # fmt: skip

    def _maybe_final(self, track_id: int) -> None:
        """Write the event of a track whose text is stable, before the track ends."""
        voting = self.config.voting
        state = self.scheduler.texts[track_id]
        if voting.final_reads and state.is_stable(
            voting.final_reads, voting.min_confidence, voting.min_read_share
        ):
            state.final = True
            self._write_plate(track_id, state, self.times[track_id])

    def _finish_tracks(self, tracks: list[Track]) -> None:
        for i, track in enumerate(tracks):
            self._finish_track(track, tracks[i + 1 :])

    def _finish_track(self, track: Track, ending_too: list[Track]) -> None:
        self.first_sights.pop(track.id, None)
        state = self.scheduler.pop(track.id)
        times = self.times.pop(track.id, None)
        self.last_texts.pop(track.id, None)
        if state is None or times is None or state.final:
            return
        if state.rejected:
            log.info("track %d: reads not voted: %s", track.id, dict(state.rejected))
        text, confidence, _ = state.fused()
        heir = self._successor(track, text, [*self.tracker.tracks, *ending_too]) if text else None
        if heir is not None:
            log.info("track %d goes on as track %d: %r", track.id, heir.id, text)
            self.scheduler.texts[heir.id].absorb(state)
            self.times[heir.id].first_pts = times.first_pts
            self.times[heir.id].first_wallclock = times.first_wallclock
            return
        voting = self.config.voting
        doubt = state.doubt(voting.min_confidence, voting.min_read_share) if text else None
        if text and doubt is None:
            self._write_plate(track.id, state, times)
            return
        if text:
            log.info(
                "track %d dropped: %r at confidence %.2f: %s", track.id, text, confidence, doubt
            )
            state.rejected[doubt] += 1
        if self.config.output.rejected and state.rejected:
            self.events.write(self._rejected_event(track.id, state, times))

    def _successor(self, track: Track, text: str, candidates: list[Track]) -> Track | None:
        """A track that took up this one's plate: first seen after this one was last seen, and
        voting the same text. A track that splits (at a few frames a second, or when a live
        source drops frames) is still one plate, and gets one event: its reads go on voting."""
        for other in candidates:
            state = self.scheduler.texts.get(other.id)
            if (
                other.first_frame > track.last_frame
                and other.id in self.times
                and state is not None
                and not state.final
                and state.fused()[0] == text
            ):
                return other
        return None

    def _write_plate(self, track_id: int, state: TrackText, times: TrackTimes) -> None:
        event = self._plate_event(track_id, state, times)
        self.events.write(event)
        self.stats.plates += 1
        self.stats.texts[event["text"]] += 1
        sighting = self.watchlist.match(event["text"]) if self.watchlist else None
        if sighting:
            self.events.write(self._watchlist_event(event, sighting))

    def _watchlist_event(self, plate_event: dict, sighting: Sighting) -> dict:
        """A known plate read: beside its plate event (whose keys are a contract), one of its
        own, and a warning line for whoever watches the console."""
        entry = sighting.entry
        log.warning(
            "watchlist: %s%s read as %s (track %d)",
            entry.plate, f" ({entry.label})" if entry.label else "", plate_event["text"],
            plate_event["track_id"],
        )  # fmt: skip
        keys = ("source", "track_id", "text", "confidence", "first_pts", "last_pts",
                "first_wallclock", "last_wallclock", "crop")  # fmt: skip
        return {
            "type": "watchlist",
            **{k: plate_event[k] for k in keys},
            "plate": entry.plate,
            "label": entry.label,
            "exact": sighting.exact,
        }

    def _plate_event(self, track_id: int, state: TrackText, times: TrackTimes) -> dict:
        """The DESIGN.md "plate" event: its keys are a contract, nothing is added to them."""
        text, confidence, char_conf = state.fused()
        best = state.deciding_read()
        det: Detection = best.detection
        crop_path = None
        if best.evidence is not None:
            plate, image, box = best.evidence
            crop_path = self.crops.write(f"track{track_id:05d}", plate, image, box)
        return {
            "type": "plate",
            "source": self.source.source,
            "track_id": track_id,
            "text": text,
            "confidence": round(confidence, 4),
            "char_confidences": [round(c, 4) for c in char_conf],
            "reads": len(state.accepted),
            **self._time_fields(times),
            "best_frame": best.frame,
            "box": [round(float(v), 1) for v in det.box],
            "corners": [[round(float(x), 1), round(float(y), 1)] for x, y in det.corners],
            "crop": crop_path,
        }

    def _rejected_event(self, track_id: int, state: TrackText, times: TrackTimes) -> dict:
        """A read track that gave no plate, and why (only when asked for)."""
        text, confidence, _ = state.fused()
        return {
            "type": "plate_rejected",
            "source": self.source.source,
            "track_id": track_id,
            "text": text,
            "confidence": round(confidence, 4),
            "reasons": dict(state.rejected),
            "texts_read": [r.reading.text for r in state.reads],
            **self._time_fields(times),
        }

    @staticmethod
    def _time_fields(times: TrackTimes) -> dict:
        return {
            "first_pts": round(times.first_pts, 3),
            "last_pts": round(times.last_pts, 3),
            "first_wallclock": iso_time(times.first_wallclock),
            "last_wallclock": iso_time(times.last_wallclock),
        }

    def _overlay(self) -> list[dict]:
        out = []
        for t in self.tracker.tracks:
            if not t.matched:
                continue
            state = self.scheduler.texts.get(t.id)
            text, conf, _ = state.fused() if state and state.accepted else ("", 0.0, [])
            out.append(
                {
                    "id": t.id,
                    "box": t.detection.box,
                    "corners": t.detection.corners,
                    "text": text,
                    "confidence": conf,
                }
            )
        return out

    def _time(self, stage: str, t0: float) -> None:
        self.stats.stage_ms[stage].append((time.perf_counter() - t0) * 1000)
