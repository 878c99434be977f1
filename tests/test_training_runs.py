"""Short training runs of both models from packs, as on a machine without the data folder: the
loop, its data-loader workers, the cosine schedule and the checkpoint, end to end on the CPU."""

import json

import numpy as np
import pytest
import torch

from streamer.host import this_host
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
    assert summary["host"] == this_host() and summary["threads"] == 1  # how it was trained
    ckpt = torch.load(out / "detector.pt", weights_only=False)
    assert ckpt["step"] == summary["steps"]
    assert all(v.device.type == "cpu" for v in ckpt["model"].values())


def test_recognizer_trains_from_a_pack_with_loader_workers(tmp_path, no_data_folder):
    synthetic_plate_pack(tmp_path / "plates.pack")
    out = tmp_path / "run"
    args = ["ocr", "--pack", str(tmp_path / "plates.pack"), "--synth", "0", "--batch", "8"]
    args += ["--workers", "1", "--threads", "1", "--cosine", "--dim", "64", "--layers", "1"]
    args += ["--decoder-layers", "1", "--freeze-minutes", "0", "--out", str(out), "--bf16"]
    assert train_main([*args, "--minutes", "0.1"]) == 0
    summary = json.loads((out / "ocr_summary.json").read_text())
    assert summary["steps"] > 0 and summary["schedule"] == "cosine, warm-up 0"
    assert summary["precision"] == "bfloat16 forward" and summary["host"] == this_host()
    ckpt = torch.load(out / "ocr.pt", weights_only=False)
    assert ckpt["spec"]["dim"] == 64 and ckpt["step"] == summary["steps"]


def test_a_detector_step_in_bfloat16_follows_the_float32_one():
    """--bf16: the detector's forward pass in bfloat16 gives the float32 loss to within
    bfloat16's precision, and its gradients point the same way, so a run trains the same model
    faster where the CPU has AMX or AVX-512 BF16."""
    from trainer.models.detector import DetectorSpec, PlateDetector
    from trainer.train_detector import detection_loss

    torch.manual_seed(0)
    model = PlateDetector(DetectorSpec()).eval()  # BatchNorm statistics fixed, as in both passes
    x = torch.randn(2, 3, 128, 128)
    box = torch.tensor([[30.0, 40.0, 90.0, 60.0]])
    corners = torch.tensor([[[30.0, 40.0], [90.0, 40.0], [90.0, 60.0], [30.0, 60.0]]])
    targets = [(box, corners, torch.tensor([True]), torch.zeros(0, 4))] * 2
    losses, grads = [], []
    for bf16 in (False, True):
        model.zero_grad()
        loss, _ = detection_loss(model, x, targets, bf16=bf16)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        losses.append(loss.item())
    assert abs(losses[1] - losses[0]) < 0.02 * abs(losses[0])
    assert torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0) > 0.9


def test_a_small_plate_level_is_trained_alone_on_a_trained_detector(tmp_path, no_data_folder):
    """--add-small-level: the grown detector's new stride-4 level trains, and every other
    weight (BatchNorm statistics too) stays what the given detector held, so the other levels
    still find what they found; without a detector to grow it is a one-line error."""
    from trainer.export import export_detector
    from trainer.models.detector import DetectorSpec, PlateDetector
    from trainer.onnx_weights import detector_from_onnx

    torch.manual_seed(0)
    spec = DetectorSpec()
    ckpt = tmp_path / "trained.pt"
    torch.save({"spec": spec.to_dict(), "model": PlateDetector(spec).state_dict(), "step": 1}, ckpt)
    export_detector(ckpt, tmp_path / "trained.onnx")
    synthetic_scene_pack(tmp_path / "scenes.pack")
    out = tmp_path / "run"
    args = ["detector", "--pack", str(tmp_path / "scenes.pack"), "--synth", "0", "--batch", "4"]
    args += ["--threads", "1", "--out", str(out), "--init-onnx", str(tmp_path / "trained.onnx")]
    assert train_main([*args, "--add-small-level", "8", "--minutes", "0.1"]) == 0

    grown = torch.load(out / "detector.pt", weights_only=False)
    assert list(grown["spec"]["strides"]) == [4, 8, 16, 32] and grown["spec"]["small_level"] == 8
    before = detector_from_onnx(tmp_path / "trained.onnx")[0].state_dict()
    after = grown["model"]
    assert set(after) - set(before) == {k for k in after if k.startswith("small.")}
    for key, value in before.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(after[key], value), key
    untrained = PlateDetector(DetectorSpec(**grown["spec"])).small.state_dict()
    assert any(not torch.equal(after[f"small.{k}"], v) for k, v in untrained.items())


def test_a_model_that_is_not_there_is_a_one_line_error(tmp_path, capsys):
    missing = tmp_path / "detector.onnx"
    for args in (
        ["eval", "--data", str(tmp_path), "--detector", str(missing)],
        ["detector", "--init-onnx", str(missing), "--out", str(tmp_path / "run")],
    ):
        assert train_main(args) == 2
        err = capsys.readouterr().err
        assert err == f"platestream-train: error: model file not found: {missing}\n"


def test_adding_a_small_plate_level_needs_a_detector_without_one(tmp_path, capsys):
    from trainer.models.detector import DetectorSpec, PlateDetector
    from trainer.train_detector import with_small_level

    args = ["detector", "--add-small-level", "24", "--out", str(tmp_path / "run")]
    assert train_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "platestream-train: error: --add-small-level grows a trained detector: "
        "give it --init-onnx MODEL"
    )
    grown = with_small_level(PlateDetector(DetectorSpec()), 8)
    assert grown.spec.strides == (4, 8, 16, 32)
    with pytest.raises(ValueError, match="has a stride-4 level already"):
        with_small_level(grown, 8)


def test_the_synthetic_eval_reads_fresh_plates_without_the_data_folder(no_data_folder, capsys):
    """The probe the recognizer sidecar cites for US vanity and British plates: it must run on
    a machine without the data, draw a region's plates from the seed alone (not from which
    other regions are asked), and be read well by the embedded model where it reads best."""

    def results(*args: str) -> dict:
        assert train_main(["eval", "--groups", "synthetic", "--synth-count", "25", *args]) == 0
        return json.loads(capsys.readouterr().out)["results"]

    both = results("--synth-regions", "cn,br", "--json")
    assert set(both) == {"synth-cn", "synth-br"}
    for group in both.values():
        assert group["n"] == 25
        assert sum(n for _, n in group["by_length"].values()) == 25
        assert group["accuracy"] >= 0.75, group["errors"]
    assert results("--synth-regions", "br", "--json") == {"synth-br": both["synth-br"]}


def test_a_ctc_head_is_trained_alone_on_a_trained_recognizer(tmp_path, no_data_folder, capsys):
    """--ctc-head-only: the new CTC head trains, and every other weight stays the given
    model's, so its queries read exactly as before; without a model it is a one-line error."""
    from trainer.export import export_recognizer
    from trainer.models.recognizer import PlateRecognizer, RecognizerSpec
    from trainer.onnx_weights import recognizer_from_onnx

    torch.manual_seed(0)
    spec = RecognizerSpec(dim=64, encoder_layers=1, decoder_layers=1)
    ckpt = tmp_path / "trained.pt"
    weights = PlateRecognizer(spec).state_dict()
    torch.save({"spec": spec.to_dict(), "model": weights, "step": 1}, ckpt)
    export_recognizer(ckpt, tmp_path / "trained.onnx")
    synthetic_plate_pack(tmp_path / "plates.pack")
    out = tmp_path / "run"
    args = ["ocr", "--pack", str(tmp_path / "plates.pack"), "--synth", "0", "--batch", "8"]
    args += ["--threads", "1", "--ctc-head-only", "--lr", "1e-3", "--out", str(out)]
    assert train_main([*args, "--minutes", "0.1"]) == 2
    assert "--ctc-head-only trains a CTC head on a trained recognizer" in capsys.readouterr().err
    args += ["--init-onnx", str(tmp_path / "trained.onnx")]
    assert train_main([*args, "--minutes", "0.1"]) == 0

    grown = torch.load(out / "ocr.pt", weights_only=False)
    assert grown["spec"]["ctc_head"] and grown["step"] > 0
    before = recognizer_from_onnx(tmp_path / "trained.onnx")[0].state_dict()
    after = grown["model"]
    assert set(after) - set(before) == {k for k in after if k.startswith("ctc.")}
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    untrained = PlateRecognizer(RecognizerSpec(**grown["spec"])).ctc.state_dict()
    assert any(not torch.equal(after[f"ctc.{k}"], v) for k, v in untrained.items())
