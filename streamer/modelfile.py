"""Loading an ONNX model and its JSON sidecar, with one-line errors instead of tracebacks.

The sidecar (``model.json`` beside ``model.onnx``) holds every fact the runtime needs about the
model — input size, normalisation, strides, charset, thresholds — so nothing is duplicated in code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort


class ModelError(RuntimeError):
    """A model file is missing, unreadable or does not match its sidecar."""


def sidecar_path(model: Path) -> Path:
    return Path(model).with_suffix(".json")


def load_sidecar(model: Path) -> dict:
    """The model's sidecar; a missing model is named first, as the user gave it, not its JSON."""
    if not Path(model).is_file():
        raise ModelError(f"model file not found: {model}")
    path = sidecar_path(model)
    if not path.is_file():
        raise ModelError(f"model sidecar not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model sidecar {path} is not valid JSON: {exc}") from None


def ctc_head_file(model: Path, sidecar: dict) -> Path | None:
    """The file beside a recognizer that holds its CTC head (sidecar ``ctc_model``), if any."""
    head = sidecar.get("ctc_model")
    return Path(model).with_name(head) if head else None


def open_session(model: Path, threads: int, spinning: bool = False) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads.

    ORT's workers busy-wait between runs by default; in the pipeline the models share two cores
    with decoding and encoding, and spinning workers took their CPU (with the annotated video,
    43 vs 35 fps on a quiet 2-core machine, 28 vs 19 on a loaded one), so they do not spin
    unless asked. A model that runs alone on several threads (``platestream read``) should let
    them: on a 2-vCPU VM the detector took 14.6 ms on 2 threads that sleep, 9.8 ms on 2 that
    spin, 14.6 ms on 1.
    """
    model = Path(model)
    if not model.is_file():
        raise ModelError(f"model file not found: {model}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {model}: {first_line}") from None


def normalize_image(rgb_batch: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) float32, normalised as the sidecar says.

    One fused multiply-add per channel, written straight into the planar output: the obvious
    ``(x.astype(float32) - mean) / std`` then transpose took longer than the detector itself.
    """
    scale = 1.0 / np.asarray(std, dtype=np.float32)
    shift = -np.asarray(mean, dtype=np.float32) * scale
    b, h, w, _ = rgb_batch.shape
    out = np.empty((b, 3, h, w), dtype=np.float32)
    for c in range(3):
        plane = out[:, c]
        np.multiply(rgb_batch[..., c], scale[c], out=plane, casting="unsafe")
        plane += shift[c]
    return out
