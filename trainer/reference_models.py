"""Seed-size reference models, exported with random weights, so that our models' speed can be
stated as a ratio against the seed design measured in the same run on the same machine.

The seed (gfickel/alpr) used a ~9 M-parameter detector (a MobileNetV4 backbone, BiFPN with 64
channels repeated 3 times, GFL towers of 4 convs) and a 60 M-parameter MaskOCR (width 624, 8
encoder layers of 12 heads, 6 decoder layers, 48x192 input cut into 48x8 strips).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from streamer.charset import CHARSET
from trainer.export import export_onnx, write_sidecar
from trainer.models.detector import DetectorSpec, ExportedDetector, PlateDetector
from trainer.models.recognizer import PlateRecognizer, RecognizerSpec, SoftmaxHead
from trainer.train_detector import INPUT_SPEC

SEED_DETECTOR = DetectorSpec(
    stem=32,
    stages=[(48, 2, 4), (96, 3, 4), (160, 4, 4), (224, 3, 4)],
    neck=64,
    bifpn_layers=3,
    head_convs=4,
)
SEED_RECOGNIZER = RecognizerSpec(
    dim=624,
    encoder_layers=8,
    encoder_heads=12,
    decoder_layers=6,
    decoder_heads=12,
    mlp_ratio=4.0,
    num_classes=len(CHARSET),
)


def export_reference_models(out: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    det_path, rec_path = out / "seed_detector.onnx", out / "seed_recognizer.onnx"
    detector = PlateDetector(SEED_DETECTOR)
    exported = ExportedDetector(detector)
    export_onnx(
        exported,
        torch.zeros(1, 3, 384, 640),
        det_path,
        exported.dynamic_axes(),
        exported.output_names(),
    )
    # what the runtime's Detector reads, so that the bench runs the seed as it runs ours
    write_sidecar(
        det_path,
        {
            "name": "seed-size reference detector (random weights, for timing only)",
            **INPUT_SPEC,
            "strides": SEED_DETECTOR.strides,
            "score_threshold": 0.5,
            "nms_iou": 0.45,
        },
    )
    recognizer = PlateRecognizer(SEED_RECOGNIZER)
    export_onnx(
        SoftmaxHead(recognizer),
        torch.zeros(1, 3, 48, 192),
        rec_path,
        {"images": {0: "batch"}, "output": {0: "batch"}},
    )
    for name, model in (("detector", detector), ("recognizer", recognizer)):
        print(f"seed {name}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")
    return det_path, rec_path


def run(args: argparse.Namespace) -> int:
    det, rec = export_reference_models(Path(args.out))
    print(f"wrote {det} and {rec}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "reference-models", help="export seed-size models (random weights) for speed ratios"
    )
    p.add_argument("--out", default="runs/reference")
    p.set_defaults(func=run)
