"""All runtime settings: one dataclass per component, defaults here, overridable from TOML and CLI.

Model facts (input size, normalisation, charset, strides) are not settings: they live in each
model's JSON sidecar and are read from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MODELS_DIR = Path(__file__).parent / "models"


@dataclass
class DetectorConfig:
    model: Path = MODELS_DIR / "detector.onnx"
    #: model input (width, height); None takes the sidecar's default.
    input_size: tuple[int, int] | None = None
    #: None takes the sidecar's calibrated thresholds.
    score_threshold: float | None = None
    nms_iou: float | None = None
    threads: int = 2


@dataclass
class RecognizerConfig:
    model: Path = MODELS_DIR / "recognizer.onnx"
    threads: int = 2
    batch_size: int = 8


@dataclass
class Config:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    recognizer: RecognizerConfig = field(default_factory=RecognizerConfig)
