"""The Python interface: the plates of a photo, and the plate events of a video source as they
happen, for a program that would rather call platestream than read its JSON lines (a gate
opener, a home-automation hook, a notebook). The dicts are those of ``platestream read`` and
of the events file (DESIGN.md), so code written against either reads the other.

    from streamer.api import PlateReader, watch

    reader = PlateReader(regions=["nl"])
    for plate in reader.read("car.jpg"):
        print(plate["text"], plate["confidence"])

    for event in watch("rtsp://camera/stream"):
        if event["type"] == "plate":
            print(event["text"], event["last_wallclock"])
"""

from __future__ import annotations

import copy
import dataclasses
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from streamer.config import Config, ConfigError, check_setting
from streamer.detector import Detector
from streamer.formats import compile_formats
from streamer.geometry import box_to_corners, corners_to_box
from streamer.pipeline import Pipeline
from streamer.recognizer import Recognizer
from streamer.voting import read_plate_crops, read_still


def read_image(
    name: str, image: np.ndarray, detector, recognizer, formats: Sequence, mirror: bool = True
) -> dict:
    """One image's plates in the DESIGN.md ``read`` format; with formats, only the plates whose
    read fits one, as the likeliest text that fits. ``detector`` None: the image is one plate
    crop. ``mirror``: ``Detector.detect_still``."""
    t0 = time.perf_counter()
    if detector is None:
        h, w = image.shape[:2]
        dets, corners = [None], [box_to_corners([0, 0, w, h])]
    else:
        dets = detector.detect_still(image) if mirror else detector.detect(image)
        corners = [d.corners for d in dets]
    t1 = time.perf_counter()
    reads = (
        read_plate_crops(recognizer, [image], tuple(formats))
        if detector is None
        else read_still(recognizer, image, corners, tuple(formats))
    )
    t2 = time.perf_counter()
    plates = []
    for det, c, (text, confidence, char_confidences) in zip(dets, corners, reads):
        if formats and not text:
            continue
        plates.append({
            "text": text,
            "confidence": round(confidence, 4),
            "char_confidences": [round(x, 4) for x in char_confidences],
            "box": [round(float(v), 1) for v in (det.box if det else corners_to_box(c))],
            "corners": [[round(float(x), 1), round(float(y), 1)] for x, y in c],
            "det_score": round(det.score, 4) if det else None,
        })  # fmt: skip
    ms = {"detect": round((t1 - t0) * 1000, 2), "recognize": round((t2 - t1) * 1000, 2)}
    return {"image": name, "plates": plates, "ms": ms}


class PlateReader:
    """Reads photos, or plate crops; it holds the models (a second or so to load), so make one
    and read many images with it.

    ``crops``: each image is one plate, read and not searched (``platestream read --crops``);
    ``regions``: only plates of those countries' formats, corrected to fit (``--region``);
    ``mirror``: a photo is looked at mirrored too (False: half the detection time);
    ``views``: reads of each plate, shifted and fused (``--views``); ``detector`` and
    ``recognizer``: ONNX files other than the embedded ones; ``max_side``: the detector's input
    size, as ``DetectorConfig.max_side`` (``--max-side``); ``config``: as the TOML file
    (``streamer.config.load_config``), so a camera's snapshots are read with the settings of its
    stream (models, ``max_side``, ``roi``, views, ``formats`` and ``regions``); the other
    arguments win over it.
    """

    def __init__(
        self,
        crops: bool = False,
        regions: Sequence[str] = (),
        mirror: bool = True,
        views: int | None = None,
        detector: Path | None = None,
        recognizer: Path | None = None,
        max_side: int | None = None,
        config: Config | None = None,
    ):
        config = copy.deepcopy(config) if config else Config()
        for section, key, value, name in (
            ("recognizer", "still_views", views, "--views"),
            ("detector", "max_side", max_side, "--max-side"),
        ):
            if value is not None:
                check_setting(section, key, value, name)
                setattr(getattr(config, section), key, value)
        if detector:
            config.detector.model = Path(detector)
        if recognizer:
            config.recognizer.model = Path(recognizer)
        try:
            self.formats = compile_formats(
                config.voting.formats, list(regions) or config.voting.regions
            )
        except ValueError as exc:
            raise ConfigError(f"regions (--region): {exc}") from None
        self.recognizer = Recognizer(config.recognizer)
        # one image at a time, each on both cores of the machine this is sized for
        still_detector = dataclasses.replace(config.detector, threads=2, spinning=True)
        self.detector = None if crops else Detector(still_detector)
        self.mirror = mirror

    def read(self, image: np.ndarray | str | Path) -> list[dict]:
        """The plates of a photo (a BGR array as OpenCV gives it, or an image file), each a dict
        of ``text``, ``confidence``, ``char_confidences``, ``box``, ``corners`` and
        ``det_score``; of a crop, its one plate (none where ``regions`` reject it)."""
        return self.result(*picture(image))["plates"]

    def result(self, name: str, image: np.ndarray) -> dict:
        """``read``'s plates in ``platestream read``'s line: the image's name, its plates and
        the milliseconds each model took."""
        return read_image(name, image, self.detector, self.recognizer, self.formats, self.mirror)


def picture(image: np.ndarray | str | Path) -> tuple[str, np.ndarray]:
    """An image given as pixels or as a file, with a name for it."""
    if isinstance(image, np.ndarray):
        return "<array>", as_bgr(image)
    pixels = cv2.imread(str(image))
    if pixels is None:
        reason = "no such file" if not Path(image).exists() else "not a readable image"
        raise ValueError(f"cannot read image {image}: {reason}")
    return str(image), pixels


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A uint8 array as the BGR image the models take: an infrared camera's grey frame and a
    PNG's BGRA are converted, not refused; what has no pixels or other values is an error."""
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
    if image.dtype != np.uint8 or channels not in (1, 3, 4) or not image.size:
        raise ValueError(
            f"expected a BGR uint8 image (H, W, 3), grey (H, W) or BGRA, not {image.dtype} "
            f"{image.shape}"
        )
    if channels == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if channels == 4 else image


class _Handed:
    """Events handed from the pipeline's thread to the caller's loop."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()

    def write(self, event: dict) -> None:
        self.queue.put(event)


_END = object()


def watch(source: str, config: Config | None = None) -> Iterator[dict]:
    """Each event of ``source`` (a file, ``rtsp://``/``http://`` URL or camera, as
    ``platestream run`` takes it) as soon as it is written: a ``plate`` event when a plate's
    track ends; ``watchlist``, ``plate_update``, ``plate_rejected`` and ``source_*`` events
    where the config asks for them.
    ``config``: as the TOML file (``streamer.config.load_config``), or the defaults; its
    ``[output]`` events file, crops and annotated video are written as by the CLI.

    The run goes on in threads of its own while the loop handles an event. A file's run ends
    at its end; a live source's is reconnected without end (``source.max_reconnects``).
    Leaving the loop stops the run, finishing its outputs; errors of the run are raised here.
    """
    handed = _Handed()
    pipeline = Pipeline.from_config(source, config or Config(), also=[handed])
    failure: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run()
        except BaseException as exc:  # raised in the caller's thread
            failure.append(exc)
        finally:
            handed.queue.put(_END)

    runner = threading.Thread(target=run, name="platestream", daemon=True)
    runner.start()
    try:
        while (event := handed.queue.get()) is not _END:
            yield event
    finally:
        pipeline.stop()
        runner.join()
        pipeline.events.close()
    if failure:
        raise failure[0]
