"""Short training runs of both models from packs, as on a machine without the data folder: the
loop, its data-loader workers, the cosine schedule and the checkpoint, end to end on the CPU."""

import json

import numpy as np
import pytest
import torch

from trainer.cli import main as train_main
from trainer.data.pack import write_pack
from trainer.data.plates import PlateSample
from trainer.synth.scenes import random_plate_sample
from trainer.train_detector import synthetic_scenes


@pytest.fixture
def no_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATESTREAM_DATA", str(tmp_path / "absent"))


def synthetic_scene_pack(path, count: int = 4):
    write_pack({"scenes": synthetic_scenes(5, count)}, path, max_side=640, quality=90)


def synthetic_plate_pack(path, count: int = 12):
    rng = np.random.default_rng(6)
    plates = [PlateSample(*random_plate_sample(rng), group="br") for _ in range(count)]
    write_pack({"br": plates}, path, max_side=320, quality=90)


def test_detector_trains_from_a_pack_with_loader_workers(tmp_path, no_data_folder, capsys):
    synthetic_scene_pack(tmp_path / "scenes.pack")
    out = tmp_path / "run"
    args = ["detector", "--pack", str(tmp_path / "scenes.pack"), "--synth", "0", "--batch", "4"]
    args += ["--workers", "1", "--threads", "1", "--cosine", "--warmup", "2", "--out", str(out)]
    assert train_main([*args, "--minutes", "0.1"]) == 0
    summary = json.loads((out / "detector_summary.json").read_text())
    assert summary["steps"] > 0 and summary["schedule"] == "cosine, warm-up 2"
    assert summary["val"] == {} and "no validation data" in capsys.readouterr().out
    ckpt = torch.load(out / "detector.pt", weights_only=False)
    assert ckpt["step"] == summary["steps"]
    assert all(v.device.type == "cpu" for v in ckpt["model"].values())


def test_recognizer_trains_from_a_pack_with_loader_workers(tmp_path, no_data_folder):
    synthetic_plate_pack(tmp_path / "plates.pack")
    out = tmp_path / "run"
    args = ["ocr", "--pack", str(tmp_path / "plates.pack"), "--synth", "0", "--batch", "8"]
    args += ["--workers", "1", "--threads", "1", "--cosine", "--dim", "64", "--layers", "1"]
    args += ["--decoder-layers", "1", "--freeze-minutes", "0", "--out", str(out)]
    assert train_main([*args, "--minutes", "0.1"]) == 0
    summary = json.loads((out / "ocr_summary.json").read_text())
    assert summary["steps"] > 0 and summary["schedule"] == "cosine, warm-up 0"
    ckpt = torch.load(out / "ocr.pt", weights_only=False)
    assert ckpt["spec"]["dim"] == 64 and ckpt["step"] == summary["steps"]
