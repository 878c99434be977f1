"""``platestream``: run a stream, read images, benchmark.

Every failure a user can cause (missing or corrupt input, unreachable URL, bad model or config,
unwritable output) ends with one ``platestream: error: ...`` line and exit status 2, never a
traceback. Ctrl-C (or SIGTERM) stops reading, finishes the frames in flight, writes the events of
every open track and closes the video.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import cv2

from streamer import __version__
from streamer.config import (
    CHOICES,
    Config,
    ConfigError,
    check_limits,
    load_config,
    update_section,
)
from streamer.formats import REGION_FORMATS
from streamer.modelfile import ModelError, load_sidecar
from streamer.sinks import SinkError
from streamer.sources import SourceError

USER_ERRORS = (SourceError, ModelError, ConfigError, SinkError, FileNotFoundError)


#: the built-in settings, for the help texts
DEFAULTS = Config()
MAX_SIDE_HELP = (
    "longer side of the detector's input (default: the model's, 640): a plate under about 40 "
    "px wide there is seldom found, so a larger side finds farther plates, at about "
    "(PIXELS/640)^2 the detection time and with more false boxes"
)
ROI_HELP = (
    "search only this part of the image for plates, as fractions of its width and height "
    "(0.3,0.4,1,1: the lower right); that part alone is scaled to the model input"
)


def version_text() -> str:
    """The package's version and the embedded models' (a bug report needs both: the models
    are retrained between releases)."""
    models = []
    for name, config in (("detector", DEFAULTS.detector), ("recognizer", DEFAULTS.recognizer)):
        try:
            models.append(f"{name} {load_sidecar(config.model).get('version', '?')}")
        except ModelError:
            models.append(f"{name} missing")
    return f"platestream {__version__} ({', '.join(models)})"


class VersionAction(argparse.Action):
    """``--version`` that reads the sidecars only when asked, not on every command's start."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platestream", description="License plate recognition for video streams."
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also log every track's rejected reads"
    )
    parser.add_argument(
        "--version", action=VersionAction, help="show the package's and the models' versions"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process a video file, RTSP/HTTP stream or webcam")
    run.add_argument(
        "source",
        help="file path (numbered images: frames/%%05d.jpg), rtsp://..., http(s)://..., "
        "/dev/videoN or a webcam index",
    )
    run.add_argument(
        "--output",
        type=Path,
        help="annotated H.264 video to write; a live source's earlier one is kept, renamed "
        "with its time",
    )
    run.add_argument(
        "--events",
        type=Path,
        help="plate events JSONL to write ('-': stdout); a live source appends to it, a file's "
        "run replaces it",
    )
    run.add_argument(
        "--watchlist",
        type=Path,
        metavar="FILE",
        help="known plates, one a line with an optional label ('AB-123-CD delivery van'): each "
        "one read (exactly or one look-alike character off, 0/O, 8/B...) adds a watchlist event",
    )
    run.add_argument(
        "--webhook",
        metavar="URL",
        help="also POST each event as JSON to this http(s) URL; kept and retried while the "
        "receiver is down",
    )
    run.add_argument(
        "--video-crf",
        type=int,
        help="quality of the annotated video: x264's constant rate factor, 0-51, lower is "
        f"better and bigger (default {DEFAULTS.output.video_crf})",
    )
    run.add_argument(
        "--video-threads",
        type=int,
        help=f"x264 threads for the annotated video (default {DEFAULTS.output.video_threads})",
    )
    run.add_argument(
        "--video-segment",
        type=float,
        metavar="MINUTES",
        help="cut the annotated video into files of this many minutes, each named after its "
        "start: annotated-20261205-213000.mp4 for a live source, annotated-000.mp4 for a file "
        "(default: one file)",
    )
    run.add_argument(
        "--video-when",
        choices=CHOICES["video_when"],
        help="which frames the annotated video takes: always (default) or only while a plate "
        "is tracked (plates), the time between cut out",
    )
    run.add_argument("--crops", type=Path, help="folder for evidence crops")
    run.add_argument(
        "--realtime", action="store_true", default=None, help="pace a file at its frame rate"
    )
    run.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the models (default 2): N frames detected at once on one thread "
        "each, the recognizer on N threads",
    )
    run.add_argument(
        "--config", type=Path, help="TOML file with [source], [detector], ... sections"
    )
    run.add_argument(
        "--frame-rate",
        type=float,
        help="frames per second of numbered images or a raw H.264/H.265 file, which carry no "
        "timing (default 25); files with timestamps keep their own. For a camera's snapshot "
        "URL (a still JPEG per request): pictures asked for a second (default 5)",
    )
    run.add_argument(
        "--max-reconnects", type=int, help="give up on a live source after N failed reconnects"
    )
    run.add_argument(
        "--rtsp-transport", choices=CHOICES["rtsp_transport"], help="RTSP transport (default tcp)"
    )
    run.add_argument(
        "--deinterlace",
        choices=CHOICES["deinterlace"],
        help="weave interlaced frames into whole ones (FFmpeg's bwdif) before detection: auto "
        "(default) those the stream marks as interlaced, on every frame, off none",
    )
    run.add_argument("--detector", type=Path, help="detector ONNX (default: embedded)")
    run.add_argument("--recognizer", type=Path, help="recognizer ONNX (default: embedded)")
    run.add_argument(
        "--updates", action="store_true", default=None, help="also emit plate_update events"
    )
    run.add_argument(
        "--final-reads",
        type=int,
        help="write a plate's event once N reads in a row agree, not when its track ends",
    )
    run.add_argument(
        "--region",
        action="append",
        dest="regions",
        help="only plates of this region's formats, reads corrected to fit "
        f"({', '.join(REGION_FORMATS)}); repeat for several",
    )
    run.add_argument(
        "--min-confidence",
        type=float,
        help="voted confidence below which a track gives no plate "
        f"(default {DEFAULTS.voting.min_confidence})",
    )
    run.add_argument("--roi", metavar="LEFT,TOP,RIGHT,BOTTOM", help=ROI_HELP)
    run.add_argument("--max-side", type=int, metavar="PIXELS", help=MAX_SIDE_HELP)
    run.add_argument(
        "--rejected",
        action="store_true",
        default=None,
        help="also emit plate_rejected events for read tracks that gave no plate",
    )
    run.add_argument(
        "--source-events",
        action="store_true",
        default=None,
        help="also emit source_lost, source_back and source_given_up events when a live "
        "source's stream drops, returns or is given up on",
    )
    run.add_argument("--quiet", action="store_true", help="no progress line")
    run.set_defaults(func=cmd_run)

    read = sub.add_parser("read", help="read the plates of still images (JSON per image)")
    read.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="an image, or a folder: its images (and its subfolders'), in name order",
    )
    read.add_argument(
        "--crops", action="store_true", help="each image is one plate crop: recognize only"
    )
    read.add_argument("--max-side", type=int, metavar="PIXELS", help=MAX_SIDE_HELP)
    read.add_argument("--detector", type=Path)
    read.add_argument("--recognizer", type=Path)
    read.add_argument(
        "--views",
        type=int,
        help="read each plate in N views (the plate as found, then shifted to each side) and "
        f"fuse them (default {DEFAULTS.recognizer.still_views}; 1: one read)",
    )
    read.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also look for plates in the mirror image and keep those both looks agree on "
        "(default; --no-mirror: one look, about half the detection time)",
    )
    read.add_argument(
        "--region",
        action="append",
        dest="regions",
        help="only plates of this region's formats, reads corrected to fit (as for 'run')",
    )
    read.add_argument("--roi", metavar="LEFT,TOP,RIGHT,BOTTOM", help=ROI_HELP)
    read.add_argument(
        "--config",
        help="TOML file as for 'run': its [detector], [recognizer] and [voting] formats and "
        "regions apply, so a camera's snapshots are read as its stream is; flags win",
    )
    read.set_defaults(func=cmd_read)

    bench = sub.add_parser("bench", help="per-stage latency and throughput")
    bench.add_argument("--stage", choices=["pipeline", "detect", "recognize"], default="pipeline")
    bench.add_argument(
        "--video", type=Path, help="video for the pipeline benchmark (default: a sample)"
    )
    bench.add_argument(
        "--reference",
        type=Path,
        help="folder with seed_*.onnx from 'platestream-train reference-models'",
    )
    bench.add_argument(
        "--compare",
        type=Path,
        metavar="MODEL",
        help="with --stage detect or recognize: also time this ONNX model of that stage (a "
        "training round's, say), interleaved with the embedded one",
    )
    bench.add_argument("--runs", type=int, default=50, help="model runs per configuration")
    bench.add_argument(
        "--repeat", type=int, default=1, help="pipeline runs per mode; the median fps is shown"
    )
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)
    return parser


def apply_run_flags(config: Config, args: argparse.Namespace) -> Config:
    """Command-line flags win over the TOML file, which wins over the defaults."""
    flags = {}
    for section, key, value, flag in (
        ("output", "output", args.output, "--output"),
        ("output", "video_crf", args.video_crf, "--video-crf"),
        ("output", "video_threads", args.video_threads, "--video-threads"),
        ("output", "video_segment", args.video_segment, "--video-segment"),
        ("output", "video_when", args.video_when, "--video-when"),
        ("output", "events", args.events, "--events"),
        ("output", "webhook", args.webhook, "--webhook"),
        ("output", "watchlist", args.watchlist, "--watchlist"),
        ("output", "crops", args.crops, "--crops"),
        ("source", "realtime", args.realtime, "--realtime"),
        ("source", "frame_rate", args.frame_rate, "--frame-rate"),
        ("source", "max_reconnects", args.max_reconnects, "--max-reconnects"),
        ("source", "rtsp_transport", args.rtsp_transport, "--rtsp-transport"),
        ("source", "deinterlace", args.deinterlace, "--deinterlace"),
        ("detector", "model", args.detector, "--detector"),
        ("recognizer", "model", args.recognizer, "--recognizer"),
        ("detector", "workers", args.threads, "--threads"),
        ("recognizer", "threads", args.threads, "--threads"),
        ("voting", "updates", args.updates, "--updates"),
        ("voting", "final_reads", args.final_reads, "--final-reads"),
        ("voting", "min_confidence", args.min_confidence, "--min-confidence"),
        ("output", "rejected", args.rejected, "--rejected"),
        ("output", "source_events", args.source_events, "--source-events"),
        ("detector", "roi", args.roi and parse_numbers(args.roi, "--roi", 4), "--roi"),
        ("detector", "max_side", args.max_side, "--max-side"),
    ):
        if value is not None:
            setattr(getattr(config, section), key, value)
            flags[section, key] = flag
    if args.regions:  # checked as the TOML setting is: an unknown region is a one-line error
        update_section(config.voting, {"regions": args.regions}, "--region")
    if args.quiet:
        config.output.progress = False
    check_limits(config, flags)
    return config


def parse_numbers(text: str, flag: str, count: int) -> tuple[float, ...]:
    """``"0.3,0.4,1,1"`` -> (0.3, 0.4, 1.0, 1.0), or a one-line error naming the flag."""
    try:
        numbers = tuple(float(part) for part in text.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != count:
        raise ConfigError(f"{flag} takes {count} numbers separated by commas, not {text!r}")
    return numbers


class ForgivingStream(io.TextIOBase):
    """stderr for a long run: once a closed terminal or a pipe whose reader quit fails a write,
    later ones are dropped, for a recording must not end because its progress has nowhere to go."""

    def __init__(self, stream):
        self.stream, self.gone = stream, False

    def write(self, text: str) -> int:
        self._attempt(self.stream.write, text)
        return len(text)

    def flush(self) -> None:
        self._attempt(self.stream.flush)

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def _attempt(self, call, *args) -> None:
        if not self.gone:
            try:
                call(*args)
            except OSError:
                self.gone = True


def controlling_terminal() -> int | None:
    """The descriptor (stderr, else stdin) through which this run sees a terminal, if any."""
    return next((fd for fd in (2, 0) if os.isatty(fd)), None)


def progress_printer(enabled: bool):
    """A progress line on stderr, redrawn in place on a terminal, every 5 s otherwise."""
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(stats) -> None:
        now = time.time()
        if not enabled or now - last[0] < (0.5 if tty else 5.0):
            return
        last[0] = now
        line = (
            f"fps {stats.fps:6.1f} | frames {stats.frames} | dropped {stats.dropped} | "
            f"tracks {stats.active_tracks} | plates {stats.plates}"
        )
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    return show


def cmd_run(args: argparse.Namespace) -> int:
    from streamer.pipeline import Pipeline
    from streamer.sinks import WebhookPoster

    config = apply_run_flags(load_config(args.config), args)
    webhook = WebhookPoster(config.output.webhook) if config.output.webhook else None
    try:
        pipeline = Pipeline.from_config(args.source, config, also=[webhook] if webhook else [])
    except BaseException:
        if webhook:
            webhook.close()  # nothing queued: its thread ends at once
        raise
    events = pipeline.events

    def on_signal(signum, _frame):
        """The first signal finishes the run cleanly; a second one does not wait for that."""
        print(f"\n{signal.Signals(signum).name}: finishing... (again to abort)", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        pipeline.stop()

    terminal = controlling_terminal()

    def on_hangup(signum, frame):
        """A closed terminal finishes the run as Ctrl-C does (after a hangup the terminal is no
        longer one); any other SIGHUP is logrotate's: the events file is opened anew."""
        if terminal is not None and not os.isatty(terminal):
            on_signal(signum, frame)
        else:
            events.reopen()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if hasattr(signal, "SIGHUP"):  # not on Windows
        signal.signal(signal.SIGHUP, on_hangup)
    with contextlib.redirect_stderr(ForgivingStream(sys.stderr)):
        return finish_run(pipeline, config, webhook)


def finish_run(pipeline, config, webhook) -> int:
    """Run the pipeline to its end, then close the sinks and print the summary."""
    source, events = pipeline.source, pipeline.events
    try:
        try:
            stats = pipeline.run(progress_printer(config.output.progress))
        finally:
            events.close()
        print_summary(source, stats, sys.stderr)
    finally:  # after the summary: its frame rate is the pipeline's, not the receiver's
        if webhook:
            webhook.close()
            print_webhook_summary(webhook, sys.stderr)
    if not source.live and stats.frames < config.tracker.confirm_hits:
        print(
            f"(a track is confirmed after {config.tracker.confirm_hits} frames: read still images "
            "with 'platestream read')",
            file=sys.stderr,
        )
    return 0


def print_summary(source, stats, out) -> None:
    seconds = time.time() - stats.started
    s = source.stats
    print(
        f"\n{source.source}: {stats.frames} frames in {seconds:.1f} s ({stats.fps:.1f} fps), "
        f"dropped {stats.dropped}, decode errors {s.decode_errors}, reconnects {s.reconnects}"
        + (f" ({s.gap_seconds:.1f} s lost)" if s.reconnects else "")
        + (f", interlaced: {s.woven} woven" if s.woven else "")
        + f", reads {stats.reads}, plates {stats.plates}"
        + (f": {summary_texts(stats.texts)}" if stats.texts else ""),
        file=out,
    )


def print_webhook_summary(webhook, out) -> None:
    posted = webhook.posted
    print(
        f"webhook {webhook.url}: {posted} event{'s' * (posted != 1)} posted"
        + (f", {webhook.refused} refused" if webhook.refused else "")
        + (f", {webhook.undelivered} not delivered" if webhook.undelivered else ""),
        file=out,
    )


def summary_texts(texts: Counter, most: int = 20) -> str:
    """``A1 B2x3 ...``: each text once with its event count, the most frequent first."""
    shown = [t if n == 1 else f"{t}x{n}" for t, n in texts.most_common(most)]
    more = len(texts) - most
    return " ".join(shown) + (f" and {more} more" if more > 0 else "")


def cmd_read(args: argparse.Namespace) -> int:
    from streamer.api import PlateReader

    config = load_config(args.config)
    if args.roi:
        config.detector.roi = parse_numbers(args.roi, "--roi", 4)
        check_limits(config, {("detector", "roi"): "--roi"})
    reader = PlateReader(
        args.crops,
        args.regions or [],
        args.mirror,
        args.views,
        args.detector,
        args.recognizer,
        args.max_side,
        config,
    )
    # OpenCV logs its own warning for a missing or broken image: one error line per image is ours
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    status = 0
    for given in args.paths:
        images = images_of(given)
        if not images:
            print(f"platestream: error: no images in {given}", file=sys.stderr)
            status = 2
        for path in images:
            image = cv2.imread(str(path)) if path.is_file() else None
            if image is None:
                reason = unreadable_image_reason(path)
                print(f"platestream: error: cannot read image {path}: {reason}", file=sys.stderr)
                status = 2
                continue
            result = reader.result(str(path), image)
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return status


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".ts", ".webm", ".flv", ".mpg"}


def unreadable_image_reason(path: Path) -> str:
    if not path.exists():
        return "no such file"
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return "a video: run it with 'platestream run'"
    return "not a readable image"


def images_of(path: Path) -> list[Path]:
    """A folder's images (by suffix, subfolders too, in name order), so that a folder of
    camera snapshots is read in one command; any other path as given, so that a file that
    cannot be read is still reported."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return [path]


def cmd_bench(args: argparse.Namespace) -> int:
    from streamer.bench import run_bench

    for flag, value in (("--runs", args.runs), ("--repeat", args.repeat)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, not {value}")
    if args.compare and args.stage == "pipeline":
        raise ConfigError("--compare times a model: give it with --stage detect or recognize")
    if args.compare:  # a missing model or sidecar is said before the seed models are exported
        load_sidecar(args.compare)
    return run_bench(args)


def reader_gone() -> int:
    """The exit status after stdout's reader quit (``| head``): quiet, SIGPIPE's, as shell tools
    end; stdout is pointed at /dev/null, or the interpreter's last flush fails again at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 128 + 13  # SIGPIPE


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # warnings (a stream lost, reconnecting) are shown; -v adds the details of every track
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"platestream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("platestream: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return reader_gone()


if __name__ == "__main__":
    sys.exit(main())
