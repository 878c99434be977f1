"""All runtime settings: one dataclass per component, defaults here, overridable from TOML and CLI.

Model facts (input size, normalisation, charset, strides, calibrated thresholds) are not
settings: they live in each model's JSON sidecar and are read from there.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from streamer.formats import region_formats

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODELS_DIR = Path(__file__).parent / "models"


class ConfigError(ValueError):
    """A configuration file or value that cannot be used."""


@dataclass
class SourceConfig:
    rtsp_transport: str = "tcp"
    #: weave interlaced frames into whole pictures (FFmpeg's bwdif): "auto" those the decoder
    #: marks as interlaced (an analogue camera behind a DVR), "on" every frame, "off" none.
    deinterlace: str = "auto"
    #: seconds to wait for a connection or a packet before a live source counts as dropped.
    timeout: float = 5.0
    #: give up after this many reconnects in a row; None: never give up.
    max_reconnects: int | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 15.0
    #: frames per second of a file that carries no timing: numbered images (FFmpeg's default
    #: 25) or a raw H.264/H.265 stream; files with timestamps keep their own. None: FFmpeg's.
    #: For a camera's snapshot URL, the pictures asked for a second (None: 5).
    frame_rate: float | None = None
    #: pace a file at its own frame rate instead of as fast as possible.
    realtime: bool = False
    #: frames held between decoding and detection; live sources drop the oldest beyond this.
    queue_size: int = 8


@dataclass
class DetectorConfig:
    model: Path = MODELS_DIR / "detector.onnx"
    #: model input (width, height); None sizes it to the frame (longer side from the sidecar).
    input_size: tuple[int, int] | None = None
    #: longer side of a frame-sized input; None takes the sidecar's (640). A plate is found
    #: reliably from about 40 px wide at the input, so larger finds smaller plates, at a
    #: quadratic cost and with more false ones (validation scenes, two looks, detector of
    #: 2026-12-07.2, at 640 / 960 / 1280: 260 / 262 / 258 of 276 plates, 10 / 33 / 48 false
    #: boxes; Spanish recall 0.81 / 0.86 / 0.83, CCPD's close-ups 1.00 / 1.00 / 0.97).
    max_side: int | None = None
    #: a source of at most ``slow_fps`` frames a second (a snapshot URL, a camera set to one or
    #: two) shows a passing car in a frame or two, often while its plate is still small, and
    #: leaves the detector time to spare: its frames are searched at up to ``slow_max_side`` on
    #: the longer side, but never above their own size (640x480 clips upscaled to 960 gave false
    #: reads). The 1080p sample clips and the labelled real ones thinned to 1 fps (the embedded
    #: models of 2026-12-07): 39 of 41 plates read against 36 at 640, one false either way (the
    #: Austrian I7859AM read 17859AM); at 2 fps 41 against 40, none false.
    slow_fps: float = 6.0
    slow_max_side: int = 960
    #: the part of the frame searched for plates, [left, top, right, bottom] as fractions of
    #: its width and height; None: all of it. Only that part is scaled to the model input, so
    #: a lane that fills a third of a wide view is searched at up to three times the pixels,
    #: and plates of parked cars outside it are never read.
    roi: tuple[float, float, float, float] | None = None
    #: None takes the sidecar's calibrated threshold.
    score_threshold: float | None = None
    nms_iou: float | None = None
    #: ONNX Runtime threads per detection.
    threads: int = 1
    #: let those threads busy-wait between runs (``streamer.modelfile.open_session``): off in the
    #: pipeline, which needs the CPU for decoding and encoding; on for ``platestream read``.
    spinning: bool = False
    #: frames the pipeline detects at once, sharing one session. ORT's intra-op threads scale
    #: poorly on a small model: on 2 cores, two single-threaded runs side by side took 10.3 ms
    #: a frame, one run on two threads 13.5 ms, one on one thread 17.8 ms.
    workers: int = 2
    #: a video frame whose search area (``roi``) is darker than this mean (0-1) gets a second
    #: look, brightened by a gamma curve to a mean of ``dark_lift_to``, and keeps the plates of
    #: both looks (0: never). The detector saw few dark scenes in training; the first look keeps
    #: plates that are bright in a dark frame (lit at night), which the brightened one may wash
    #: out. On the labelled clips darkened as at dusk (``platestream-train eval --perturb
    #: dark``), 38 of 41 plates with 1 false read against 36 and 3; the clips as they are, 41
    #: either way.
    dark_frame: float = 0.25
    dark_lift_to: float = 0.35


@dataclass
class RecognizerConfig:
    model: Path = MODELS_DIR / "recognizer.onnx"
    #: ONNX Runtime threads per batch. The model is too small for a second thread to pay:
    #: 0.69 against 0.91 ms a plate at batch 8, 0.85 against 1.58 at batch 1 (INT8, 2 cores).
    threads: int = 1
    #: plates a model run. The INT8 model quantises its activations per run, with one scale for
    #: the whole batch, so batched reads depend on the other plates in the batch (5 of 563 val
    #: crops read differently at 8 than alone); one at a time, a plate reads the same whatever
    #: else is in the frame, at no throughput cost measured with the annotated video (53.8
    #: against 53.6 fps; 0.78 against 1.36 ms a plate alone, but most frames read one plate).
    batch_size: int = 1
    #: a still image (``platestream read``: no track gives several views) is read in this many
    #: views, the plate as found and shifted along its width by ``view_shift`` of it to each
    #: side (then twice as far), and the reads fused as a track's are. Val crops, recognizer
    #: 2026-12-07.9: 531 of 563 read right in 1 view, 538 in 3 (CN 302 -> 306, BR 143 -> 146).
    still_views: int = 3
    view_shift: float = 0.03


@dataclass
class TrackerConfig:
    #: a detection below the detector's threshold times this still extends a track (ByteTrack's
    #: second pass), but never starts one.
    low_score_factor: float = 0.5
    #: a weak detection extends a track only where it overlaps the prediction this much (IoU):
    #: near the threshold sit spurious boxes beside an occluded plate, and one taken by the
    #: track throws its velocity off so that the plate, back in view, starts a second track.
    low_score_min_iou: float = 0.3
    #: hits before a track is confirmed (and read).
    confirm_hits: int = 2
    #: frames, and seconds, a confirmed track may go unseen before it ends, whichever comes
    #: first: 12 frames is half a second at 25 fps and a second at 12, but six seconds at 2,
    #: and a camera of a few frames a second should still write a plate's event a second
    #: after the plate left, not six.
    max_lost: int = 12
    max_lost_seconds: float = 1.0
    #: largest centre distance, in plate widths, between prediction and detection.
    gate: float = 1.5
    #: largest ratio between the predicted and the detected plate width.
    size_gate: float = 1.6
    #: seconds between frames up to which the gates hold as set; over a longer gap a plate
    #: moves and grows further, and the centre gate widens in proportion, the size gate by
    #: that power, up to ``max_gate_widening`` times.
    gate_interval: float = 0.08
    max_gate_widening: float = 4.0


@dataclass
class VotingConfig:
    #: most reads per track. A plate that approaches spends its first reads on small views;
    #: with 8 its close-ups were never read (16: 38 of 41 clip plates read, 1 false, against 36
    #: and 1, for 14 % more reads).
    max_reads: int = 16
    #: seconds between two reads of one track (the cool-down): every third frame at 25 fps,
    #: every frame at 6. Counted in frames (3), a camera of a few frames a second gave each
    #: plate a read or two and no vote (sample and real clips thinned to 6 fps: 39 of 41 plates
    #: read and 3 false reads every third frame, 41 and 0 every frame, as 0.1 s reads there).
    read_interval: float = 0.1
    #: reads every track gets (one per cool-down) before re-reads need a better view; a
    #: parked car's view never improves, one read is no vote, and three split 2-1 on a bad
    #: character (5 instead of 3: 36 of 41 clip plates read, 1 false, against 35 and 2).
    min_reads: int = 5
    #: past ``min_reads``, a re-read needs a detection this much better than the best read so far.
    improvement: float = 1.1
    #: plates narrower than this (frame pixels) are not read.
    min_width: float = 40.0
    #: reads below this plate confidence are rejected (kept in the log with their reason).
    min_read_confidence: float = 0.05
    #: a finished track with a fused confidence below this emits no event. Midway between the
    #: clips' lowest right read and highest false one (sample and real clips: 0.28 and 0.17 with
    #: the embedded models, 0.30 and 0.23 with the previous detector); at 0.3 the sample
    #: eu_street's MV184VT, read right at 0.28-0.30, was lost or on the edge.
    min_confidence: float = 0.25
    #: a finished track emits no event either when fewer than this share of its reads were
    #: accepted, counting only reads of views as good as its worst accepted one (a plate that
    #: approaches is unreadable while far away), or all its reads where one was accepted (one
    #: read is no vote): the others unreadable, its text is a lucky read. A van's lettering,
    #: read 16 times, gave one "I2381" at 0.26 among reads below ``min_read_confidence`` (real
    #: clip nl_cativ_Video97_2: 0.10 of its as-good reads accepted, 0.20-0.25 at 6/3/2 fps);
    #: the 165 right tracks of the sample and real clips, as they are and thinned to 6, 3 and
    #: 2 fps, had 0.75 or more. Defocused (``platestream-train eval --perturb defocus``),
    #: eu_street gave 8JL064 and MV164VT each from one read on the best view among 15 unsure.
    min_read_share: float = 0.5
    #: optional regular expressions a read must fully match (any of them), on letters and
    #: digits only; a read that misses by confusable characters is corrected to the likeliest
    #: text that fits (``streamer.formats``).
    formats: list[str] = field(default_factory=list)
    #: built-in formats by region (``streamer.formats.REGION_FORMATS``: nl, de, fr, be, it, es,
    #: at, uk, br, ar, cn), added to ``formats``.
    regions: list[str] = field(default_factory=list)
    #: emit "plate_update" events when a track's voted text changes.
    updates: bool = False
    #: a track's text is final (its event written, no more reads) once this many accepted reads
    #: in a row agree with the voted text; 0: final when the track ends. A car waiting at a
    #: barrier gets its event while it waits, not when it drives off.
    final_reads: int = 0


@dataclass
class OutputConfig:
    output: Path | None = None
    #: x264 constant rate factor of the annotated video (lower: better and bigger). 28 against
    #: 23 cost 20-25 % less encoding CPU (13.7 against 18.0 ms a 1080p frame, a third of the
    #: pipeline's) and half the bytes, at 42 dB PSNR on the Hangzhou camera clip, plates as legible.
    video_crf: int = 28
    #: x264's threads for the annotated video. On 2 cores one thread costs the 1080p pipeline
    #: 37.0 against 39.4 ms of CPU a frame with x264's own choice (frame threads; 2: 38.6), 4
    #: interleaved runs each; one thread encodes 1080p at over 100 fps. Raise it for 4K video
    #: on a machine with cores to spare.
    video_threads: int = 1
    #: minutes of media time in each file of the annotated video, named after its start (see
    #: ``SegmentedVideo``); 0: one file for the whole run.
    video_segment: float = 0.0
    #: which frames the annotated video takes: "always" every one, "plates" only those while a
    #: plate is tracked (from its first detection to a second after it was last seen), the
    #: stretches between cut out rather than frozen on screen: a camera over a quiet road
    #: records minutes a day, not hours. The overlay's clock says when each frame was seen.
    video_when: str = "always"
    events: Path | None = None
    #: an http(s) URL each event is also POSTed to as JSON (retried while the receiver is down).
    webhook: str | None = None
    #: known plates (one a line, with a label): a "watchlist" event follows each one's plate event.
    watchlist: Path | None = None
    crops: Path | None = None
    #: the progress line on stderr.
    progress: bool = True
    #: also write a "plate_rejected" event for a read track that gave no plate, with the reasons.
    rejected: bool = False
    #: also write "source_lost", "source_back" and "source_given_up" events when a live
    #: source's stream drops, returns, or is given up on (``max_reconnects``): a camera that
    #: went dark is news to whoever watches the events, not only to the log.
    source_events: bool = False


@dataclass
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    recognizer: RecognizerConfig = field(default_factory=RecognizerConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    voting: VotingConfig = field(default_factory=VotingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


#: inclusive bounds (low, high; None: open) of the numeric settings. A value outside is refused
#: with its name before anything runs: zero workers or a confidence above 1 would otherwise run
#: to the end and silently read nothing. (The video's crf is checked where x264 is opened.)
LIMITS: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "source": {
        "timeout": (0.1, None), "max_reconnects": (0, None), "backoff_initial": (0, None),
        "backoff_max": (0, None), "queue_size": (1, None), "frame_rate": (0.01, 1000),
    },
    "detector": {
        "input_size": (32, 8192), "max_side": (32, 8192), "slow_fps": (0, None),
        "slow_max_side": (32, 8192), "roi": (0, 1), "score_threshold": (0, 1),
        "nms_iou": (0, 1), "threads": (1, None), "workers": (1, None), "dark_frame": (0, 1),
        "dark_lift_to": (0.01, 0.99),
    },
    "recognizer": {
        "threads": (1, None), "batch_size": (1, None), "still_views": (1, None),
        "view_shift": (0, 0.5),
    },
    "tracker": {
        "low_score_factor": (0, 1), "low_score_min_iou": (0, 1), "confirm_hits": (1, None),
        "max_lost": (0, None), "max_lost_seconds": (0, None), "gate": (0, None),
        "size_gate": (1, None), "gate_interval": (0.001, None), "max_gate_widening": (1, None),
    },
    "output": {"video_threads": (1, None), "video_segment": (0, None)},
    "voting": {
        "max_reads": (1, None), "read_interval": (0, None), "min_reads": (1, None),
        "improvement": (0, None), "min_width": (0, None), "min_read_confidence": (0, 1),
        "min_confidence": (0, 1), "min_read_share": (0, 1), "final_reads": (0, None),
    },
}  # fmt: skip


def check_limits(config: Config, names: dict[tuple[str, str], str] | None = None) -> None:
    """Refuse a setting outside ``LIMITS``, named as ``names`` gives it (a command-line flag)
    or as its TOML section and key."""
    for section, limits in LIMITS.items():
        for key in limits:
            name = (names or {}).get((section, key), f"[{section}] {key}")
            check_setting(section, key, getattr(getattr(config, section), key), name)
    roi = config.detector.roi
    if roi is not None and not (roi[0] < roi[2] and roi[1] < roi[3]):
        name = (names or {}).get(("detector", "roi"), "[detector] roi")
        raise ConfigError(f"{name} must be left, top, right, bottom (left < right, top < bottom)")


def check_setting(section: str, key: str, value, name: str) -> None:
    """Refuse one setting outside its ``LIMITS``, naming it ``name``: also for the settings
    an API call takes as arguments rather than in a ``Config``."""
    low, high = LIMITS[section][key]
    numbers = value if isinstance(value, tuple) else (value,)
    if any(_outside(v, low, high) for v in numbers if v is not None):
        raise ConfigError(f"{name} must be {_range_text(low, high)}, not {value}")


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


def _range_text(low: float | None, high: float | None) -> str:
    if high is None:
        return f"at least {low}"
    return f"between {low} and {high}"


def _declared_type(section, name: str) -> type | None:
    """The type a setting holds when set: its annotation, without ``| None``."""
    hint = typing.get_type_hints(type(section))[name]
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    origin = typing.get_origin(hint) or hint
    return origin if isinstance(origin, type) else None


#: the settings that take one of a few words
CHOICES = {
    "rtsp_transport": ("tcp", "udp"),
    "deinterlace": ("auto", "on", "off"),
    "video_when": ("always", "plates"),
}

#: the settings that hold several numbers: their form and the type of each
TUPLES = {"input_size": ("width, height", int), "roi": ("left, top, right, bottom", float)}


def _coerce(value, expected: type | None, name: str, where: str):
    """TOML values into the setting's declared type (paths and tuples are not TOML types).

    A value of the wrong type, or a format that is not a regular expression, is refused here
    with the setting's name, instead of failing later inside a running pipeline.
    """
    if expected is Path:
        _check_type(value, str, name, where)
        return Path(value)
    if expected is tuple:
        form, kind = TUPLES[name]
        _check_type(value, list, name, where)
        if len(value) != form.count(",") + 1:
            raise ConfigError(f"{where}: '{name}' must be [{form}], not {value}")
        return tuple(_coerce(v, kind, name, where) for v in value)
    if name == "formats":
        _check_type(value, list, name, where)
        for pattern in value:
            _check_type(pattern, str, name, where)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"{where}: '{name}' has a bad pattern {pattern!r}: {exc}"
                ) from None
        return value
    if name == "regions":
        _check_type(value, list, name, where)
        for region in value:
            _check_type(region, str, name, where)
        try:
            region_formats(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return value
    if name in CHOICES:
        _check_type(value, str, name, where)
        if value not in CHOICES[name]:
            raise ConfigError(
                f"{where}: '{name}' must be one of {', '.join(CHOICES[name])}, not {value!r}"
            )
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is not None:
        _check_type(value, expected, name, where)
    return value


def _check_type(value, expected: type, name: str, where: str) -> None:
    # bool is an int in Python, but `true` is no number of seconds
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise ConfigError(
            f"{where}: '{name}' must be {expected.__name__}, not {type(value).__name__}"
        )


def update_section(section, values: dict, where: str) -> None:
    known = {f.name for f in dataclasses.fields(section)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting '{key}' (known: {', '.join(sorted(known))})"
            )
        setattr(section, key, _coerce(value, _declared_type(section, key), key, where))


def load_config(path: Path | str | None) -> Config:
    """Defaults, updated by the TOML file's sections ([source], [detector], ... [output])."""
    config = Config()
    if path is None:
        return config
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    sections = {f.name for f in dataclasses.fields(config)}
    for name, values in data.items():
        if name not in sections or not isinstance(values, dict):
            raise ConfigError(
                f"{path}: unknown section [{name}] (known: {', '.join(sorted(sections))})"
            )
        update_section(getattr(config, name), values, f"{path} [{name}]")
    try:
        check_limits(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config
