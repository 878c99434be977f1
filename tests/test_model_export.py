"""The exported ONNX graphs must compute what the torch modules compute, and a broken model file
must stop the runtime with one clear line."""

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from streamer.config import DetectorConfig, RecognizerConfig  # noqa: E402
from streamer.detector import Detector  # noqa: E402
from streamer.modelfile import ModelError, open_session  # noqa: E402
from streamer.recognizer import Recognizer  # noqa: E402
from trainer.export import export_onnx, with_fixed_shape_attention  # noqa: E402
from trainer.models.detector import DetectorSpec, ExportedDetector, PlateDetector  # noqa: E402
from trainer.models.recognizer import PlateRecognizer, RecognizerSpec, SoftmaxHead  # noqa: E402

#: a detector with a stride-4 level (``--add-small-level``)
SMALL_LEVEL_SPEC = DetectorSpec(strides=(4, 8, 16, 32), small_level=16)


@pytest.mark.parametrize("spec", [DetectorSpec(), SMALL_LEVEL_SPEC], ids=["3-levels", "4-levels"])
def test_detector_onnx_matches_torch_at_several_input_sizes(tmp_path, spec):
    torch.manual_seed(0)
    model = ExportedDetector(PlateDetector(spec)).eval()
    path = tmp_path / "det.onnx"
    export_onnx(
        model, torch.zeros(1, 3, 384, 640), path, model.dynamic_axes(), model.output_names()
    )
    session = open_session(path, threads=1)
    outputs = [f"level{i}" for i in range(len(spec.strides))]
    assert [o.name for o in session.get_outputs()] == outputs
    for h, w in ((384, 640), (320, 320), (416, 640)):
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            expected = [m.numpy() for m in model(x)]
        got = session.run(None, {"images": x.numpy()})
        assert [m.shape for m in got] == [(1, 13, h // s, w // s) for s in spec.strides]
        for want, have in zip(expected, got):
            np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-3)


def test_runtime_decoding_is_the_training_decoding_and_old_graphs_are_cut_to_the_maps(tmp_path):
    """``decode_levels`` (numpy, where the score passes) computes what the loss's torch decoding
    computes, which graphs exported before 2026-12-04 held: ``rewrite_detector`` cuts such a
    graph at the head's maps, and decoding those gives the old graph's rows."""
    from streamer.detector import decode_levels
    from trainer.detector_graph import rewrite_detector

    class DecodingDetector(torch.nn.Module):  # the graph as exported before 2026-12-04
        def __init__(self, model: PlateDetector):
            super().__init__()
            self.model = model

        def forward(self, images):
            raw, points, strides = self.model.flatten(self.model(images))
            scores, boxes, corners = self.model.decode(raw, points, strides)
            return torch.cat([scores.unsqueeze(-1), boxes, corners], -1)

    torch.manual_seed(0)
    model = PlateDetector(DetectorSpec())
    with torch.no_grad():  # boxes of any size, some at the clamp
        model.head.box.weight.mul_(20)
    old = tmp_path / "old.onnx"
    export_onnx(
        DecodingDetector(model), torch.zeros(1, 3, 384, 640), old, {"images": {2: "h", 3: "w"}}
    )
    cut = tmp_path / "cut.onnx"
    rewrite_detector(old, cut, {})
    x = np.random.default_rng(1).normal(size=(1, 3, 256, 320)).astype(np.float32)
    rows = open_session(old, threads=1).run(None, {"images": x})[0][0]
    maps = open_session(cut, threads=1).run(None, {"images": x})
    assert len(maps) == 3 and len(onnx.load(str(cut)).graph.node) < len(
        onnx.load(str(old)).graph.node
    )
    every = decode_levels(maps, DetectorSpec().strides, 0.0)
    np.testing.assert_allclose(every, rows, rtol=1e-4, atol=2e-3)
    for level in maps:  # scores spread widely (a random model's are all near its prior)
        level[0, 0] = np.random.default_rng(2).normal(0, 3, level.shape[2:])
    every = decode_levels(maps, DetectorSpec().strides, 0.0)
    for threshold in (0.3, 0.5, 0.9):  # only where the score passes
        passed = decode_levels(maps, DetectorSpec().strides, threshold)
        assert 0 < len(passed) < len(every)
        np.testing.assert_array_equal(
            passed[passed[:, 0] >= threshold], every[every[:, 0] >= threshold]
        )


def test_recognizer_onnx_matches_torch_for_any_batch(tmp_path):
    torch.manual_seed(0)
    spec = RecognizerSpec(dim=64, encoder_layers=1, decoder_layers=1)
    model = SoftmaxHead(PlateRecognizer(spec)).eval()
    path = tmp_path / "rec.onnx"
    exported = SoftmaxHead(with_fixed_shape_attention(model.model))  # the form that is shipped
    export_onnx(exported, torch.zeros(1, 3, 48, 192), path, {"images": {0: "b"}})
    session = open_session(path, threads=1)
    for batch in (1, 5):
        x = torch.randn(batch, 3, 48, 192)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"images": x.numpy()})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
    shapes = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Shape"]
    assert len(shapes) <= 2  # patches and heads are cut to constant sizes, not per-call ones


def test_recognizer_attention_fused_computes_the_same(tmp_path):
    """Each attention layer becomes one MultiHeadAttention node (encoder self-attention, decoder
    self- and cross-attention) and the outputs stay those of the unfused graph."""
    from trainer.recognizer_graph import rewrite_recognizer

    torch.manual_seed(0)
    spec = RecognizerSpec(dim=64, encoder_layers=2, decoder_layers=1)
    model = SoftmaxHead(with_fixed_shape_attention(PlateRecognizer(spec)))
    path, fused = tmp_path / "rec.onnx", tmp_path / "rec.fused.onnx"
    export_onnx(model, torch.zeros(1, 3, 48, 192), path, {"images": {0: "b"}})
    assert rewrite_recognizer(path, fused) == 2 + 2
    ops = [n.op_type for n in onnx.load(str(fused)).graph.node]
    assert ops.count("MultiHeadAttention") == 4 and ops.count("Softmax") == 1  # the output's
    x = np.random.default_rng(0).normal(size=(5, 3, 48, 192)).astype(np.float32)
    expected = open_session(path, threads=1).run(None, {"images": x})[0]
    got = open_session(fused, threads=1).run(None, {"images": x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert rewrite_recognizer(fused, fused) == 0  # fused already: nothing left to fuse


def test_recognizer_int8_self_attention_as_qattention_computes_the_same(tmp_path):
    """In an INT8 file each self-attention and its quantised projection become one QAttention
    (encoder and decoder self-attention; cross-attention stays a MultiHeadAttention), and the
    outputs stay those of the file with the attention fused only."""
    from trainer.export import quantize_dynamic_int8
    from trainer.recognizer_graph import fuse_attention, quantized_self_attention

    torch.manual_seed(0)
    spec = RecognizerSpec(dim=64, encoder_layers=2, decoder_layers=1)
    trained = PlateRecognizer(spec)
    with torch.no_grad():  # distinct values, as after training (the exporter merges equal ones)
        for p in trained.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model = SoftmaxHead(with_fixed_shape_attention(trained))
    path = tmp_path / "rec.onnx"
    export_onnx(model, torch.zeros(1, 3, 48, 192), path, {"images": {0: "b"}})
    proto = onnx.load(str(quantize_dynamic_int8(path, tmp_path / "rec.int8.onnx")))
    assert fuse_attention(proto.graph) == 4
    proto.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    fused, both = tmp_path / "fused.onnx", tmp_path / "qattention.onnx"
    onnx.save(proto, str(fused))
    assert quantized_self_attention(proto.graph) == 2 + 1
    onnx.save(proto, str(both))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QAttention") == 3 and ops.count("MultiHeadAttention") == 1
    x = np.random.default_rng(0).normal(size=(5, 3, 48, 192)).astype(np.float32)
    expected = open_session(fused, threads=1).run(None, {"images": x})[0]
    got = open_session(both, threads=1).run(None, {"images": x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert quantized_self_attention(proto.graph) == 0  # nothing left to rewrite


def test_missing_model_file_is_a_one_line_error(tmp_path):
    (tmp_path / "detector.json").write_text('{"max_side": 640}')
    with pytest.raises(ModelError, match="model file not found"):
        Detector(DetectorConfig(model=tmp_path / "detector.onnx"))
    (tmp_path / "recognizer.onnx").write_bytes(b"model without its sidecar")
    with pytest.raises(ModelError, match="sidecar not found"):
        Recognizer(RecognizerConfig(model=tmp_path / "recognizer.onnx"))


def test_corrupt_model_file_is_a_one_line_error(tmp_path):
    model = tmp_path / "detector.onnx"
    model.write_bytes(b"this is not a protobuf" * 10)
    (tmp_path / "detector.json").write_text('{"max_side": 640}')
    with pytest.raises(ModelError, match="cannot load model") as err:
        Detector(DetectorConfig(model=model))
    assert "\n" not in str(err.value)
    (tmp_path / "detector.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        Detector(DetectorConfig(model=model))


@pytest.mark.parametrize("ctc_head", [False, True])
def test_recognizer_weights_come_back_from_fp32_and_int8_onnx(tmp_path, ctc_head):
    """Training can resume from an exported model: the rebuilt torch module computes what the
    ONNX file computes (exactly for FP32, up to activation quantisation for INT8), the CTC
    head's output too where the model has one."""
    from trainer.export import export_recognizer, quantize_recognizer
    from trainer.onnx_weights import recognizer_from_onnx

    torch.manual_seed(0)
    spec = RecognizerSpec(dim=64, encoder_layers=2, decoder_layers=1, ctc_head=ctc_head)
    trained = PlateRecognizer(spec)
    with torch.no_grad():  # distinct values, as after training (the exporter merges equal ones)
        for p in trained.parameters():
            p.add_(0.02 * torch.randn_like(p))
    ckpt = tmp_path / "ocr.pt"
    torch.save({"spec": spec.to_dict(), "model": trained.state_dict(), "step": 1}, ckpt)
    fp32 = tmp_path / "rec.onnx"
    export_recognizer(ckpt, fp32)
    int8 = quantize_recognizer(fp32, tmp_path / "rec.int8.onnx")
    ops = [n.op_type for n in onnx.load(str(int8)).graph.node]
    assert "MatMul" not in ops  # the cross-attention's projections are quantised too
    assert ops.count("QAttention") == 2 + 1 and ops.count("MultiHeadAttention") == 1
    x = torch.randn(3, 3, 48, 192)
    for path, atol in ((fp32, 1e-5), (int8, 0.05)):
        model, got_spec = recognizer_from_onnx(path)
        assert got_spec == spec
        with torch.no_grad():
            rebuilt = SoftmaxHead(model.eval())(x)
        rebuilt = [t.numpy() for t in rebuilt] if ctc_head else [rebuilt.numpy()]
        onnx_out = open_session(path, threads=1).run(None, {"images": x.numpy()})
        if ctc_head:  # the head is a file of its own, reading the model's strip tokens
            head = path.with_name(f"{path.stem}_ctc.onnx")
            assert json.loads(path.with_suffix(".json").read_text())["ctc_model"] == head.name
            memory = onnx_out.pop()
            onnx_out += open_session(head, threads=1).run(None, {"memory": memory})
            ops = [n.op_type for n in onnx.load(str(head)).graph.node]
            fused = ops.count("MultiHeadAttention") + ops.count("QAttention")
            assert fused == (path == int8)  # quantize-recognizer fuses the head's attention too
        assert len(onnx_out) == len(rebuilt)
        for torch_out, ort_out in zip(rebuilt, onnx_out):
            np.testing.assert_allclose(torch_out, ort_out, atol=atol)


@pytest.mark.parametrize("spec", [DetectorSpec(), SMALL_LEVEL_SPEC], ids=["3-levels", "4-levels"])
def test_detector_weights_come_back_from_onnx_with_batchnorm_unfolded(tmp_path, spec):
    """The exporter folds every BatchNorm into its convolution; the rebuilt torch detector must
    compute the same, also after its BatchNorms took real statistics for training."""
    from trainer.export import export_detector
    from trainer.onnx_weights import detector_from_onnx, recalibrate_folded_batchnorm

    torch.manual_seed(0)
    trained = PlateDetector(spec)
    with torch.no_grad():  # distinct values and BatchNorm statistics, as after training
        for p in trained.parameters():
            p.add_(0.02 * torch.randn_like(p))
        for m in trained.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    ckpt = tmp_path / "detector.pt"
    torch.save({"spec": spec.to_dict(), "model": trained.state_dict(), "step": 1}, ckpt)
    path = tmp_path / "det.onnx"
    export_detector(ckpt, path)
    x = torch.randn(1, 3, 384, 640)
    expected = open_session(path, threads=1).run(None, {"images": x.numpy()})
    model, got_spec = detector_from_onnx(path)
    assert got_spec.to_dict() == json.loads(json.dumps(spec.to_dict()))  # from the sidecar
    assert_maps_close(model, x, expected)
    recalibrate_folded_batchnorm(model, torch.randn(4, 3, 320, 320))
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert norm.running_var.min() > 0 and not torch.allclose(norm.running_mean, torch.zeros(1))
    assert_maps_close(model.eval(), x, expected)


def assert_maps_close(model: PlateDetector, x: torch.Tensor, expected: list, atol=1e-3) -> None:
    with torch.no_grad():
        for got, want in zip(model(x), expected, strict=True):
            np.testing.assert_allclose(got.numpy(), want, atol=atol)


def test_fine_tuning_with_frozen_batchnorm_keeps_its_statistics():
    """--freeze-bn: a training step changes the weights but not the BatchNorm statistics (they
    move without it); the model is otherwise in training mode."""
    from trainer.train_detector import train_mode

    torch.manual_seed(0)
    model = PlateDetector(DetectorSpec())
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for freeze, should_move in ((True, False), (False, True)):
        train_mode(model, freeze)
        assert model.training and all(n.training != freeze for n in norms)
        before = [n.running_mean.clone() for n in norms]
        weight = model.head.score.weight.detach().clone()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = sum(m.square().mean() for m in model(torch.randn(2, 3, 64, 64)))
        loss.backward()
        opt.step()
        moved = any(not torch.equal(b, n.running_mean) for b, n in zip(before, norms))
        assert moved == should_move
        assert not torch.equal(weight, model.head.score.weight)


def exported_random_detector(
    tmp: Path,
    fp32: Path,
    int8: Path,
    rewrite: bool,
    spec: DetectorSpec | None = None,
    calibration: list[np.ndarray] | None = None,
) -> list:
    """A randomly initialised detector exported to ``fp32`` and quantised to ``int8`` (graph
    rewritten or not), calibrated on ``calibration`` (default: three batches of noise); returns
    the calibration batches. Its BatchNorm shifts are random too, as a trained model's are: the
    exporter shares equal folded biases (all zero otherwise)."""
    from trainer.export import export_detector, quantize_detector_static

    torch.manual_seed(0)
    spec = spec or DetectorSpec()
    model = PlateDetector(spec)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        torch.nn.init.normal_(bn.bias, std=0.1)
    ckpt = tmp / "detector.pt"
    torch.save({"spec": spec.to_dict(), "model": model.state_dict(), "step": 1}, ckpt)
    export_detector(ckpt, fp32)
    calibration = calibration or [
        np.random.default_rng(i).normal(size=(1, 3, 384, 640)).astype(np.float32) for i in range(3)
    ]
    rewritten = quantize_detector_static(fp32, int8, calibration, rewrite=rewrite)
    sidecar = json.loads(fp32.with_suffix(".json").read_text()) | rewritten
    int8.with_suffix(".json").write_text(json.dumps(sidecar))
    return calibration


def test_a_detector_taking_the_pixels_as_they_are_computes_what_it_did(tmp_path):
    """Calibrated on pictures of every pixel value, as the embedded model was, the INT8 input
    quantises (x - 127.5)/128 in steps of 1/128; ``take_raw_pixels`` moves the mean to 128, so
    that the runtime makes the blocks without a lookup, and the stem's bias takes the half step.
    Fed the pixels as they are, its maps move by less than INT8's own error against FP32, and
    are as close to FP32's as before; training from it starts from the stem's bias as trained."""
    from streamer.modelfile import normalize_image
    from trainer.onnx_weights import detector_from_onnx

    rng = np.random.default_rng(3)
    pictures = [rng.integers(0, 256, (384, 640, 3), dtype=np.uint8) for _ in range(3)]
    pictures[0][:16, :16] = np.arange(256, dtype=np.uint8).reshape(16, 16)[..., None]
    calibration = [normalize_image(p[None], [127.5] * 3, [128.0] * 3) for p in pictures]
    fp32, before, after = (tmp_path / f"{name}.onnx" for name in ("fp32", "before", "after"))
    exported_random_detector(tmp_path, fp32, before, False, calibration=calibration)
    exported_random_detector(tmp_path, fp32, after, True, calibration=calibration)
    sidecar = json.loads(after.with_suffix(".json").read_text())
    assert sidecar["input_quantization"] == {"scale": 1 / 128, "zero_point": 128}
    assert sidecar["mean"] == [128.0] * 3 and Detector(DetectorConfig(model=after)).table is None
    rgb = cv2.GaussianBlur(pictures[1], (9, 9), 3)  # a picture, not noise
    maps = {
        m: np.concatenate([x.ravel() for x in open_session(m, 1).run(None, runtime_feed(m, rgb))])
        for m in (fp32, before, after)
    }
    error = {m: np.abs(maps[m] - maps[fp32]).mean() for m in (before, after)}
    assert 0 < np.abs(maps[after] - maps[before]).mean() < error[before]
    assert error[after] < 1.05 * error[before]  # as close to FP32 as before
    trained, taken = (detector_from_onnx(m)[0].backbone.stem[1].bias for m in (before, after))
    assert torch.allclose(trained, taken, atol=1e-3)


def runtime_feed(model: Path, rgb: np.ndarray) -> dict:
    """What the runtime feeds ``model`` for a letterboxed RGB image: the normalised image, or
    the quantised blocks where its sidecar says the graph takes them."""
    from streamer.detector import quantization_table, quantized_blocks
    from streamer.modelfile import normalize_image

    spec = json.loads(model.with_suffix(".json").read_text())
    if "input_quantization" not in spec:
        return {"images": normalize_image(rgb[None], spec["mean"], spec["std"])}
    q = spec["input_quantization"]
    table = quantization_table(spec["mean"], spec["std"], q["scale"], q["zero_point"])
    channels_last = onnx.load(str(model)).graph.input[0].type.tensor_type.shape.dim[3].dim_value
    return {"images": quantized_blocks(rgb, table, channels_last == 12)}


def random_images(*sizes: tuple[int, int]) -> list[np.ndarray]:
    rng = np.random.default_rng(9)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for w, h in sizes]


@pytest.mark.parametrize("spec", [DetectorSpec(), SMALL_LEVEL_SPEC], ids=["3-levels", "4-levels"])
def test_static_int8_detector_keeps_its_prediction_convs_fp32_and_its_weights(tmp_path, spec):
    """The INT8 detector quantises the body only (the corners lose precision otherwise), and
    training can still start from it: its weights come back within rounding error."""
    import onnx

    from trainer.onnx_weights import detector_from_onnx

    fp32, int8 = tmp_path / "det.onnx", tmp_path / "det.int8.onnx"
    exported_random_detector(tmp_path, fp32, int8, rewrite=True, spec=spec)

    graph = onnx.load(str(int8)).graph
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    quantised = {name for name, n in convs.items() if "DequantizeLinear" in n.input[1]}
    assert "/model/backbone/stem/stem.0/Conv" in quantised
    assert not any("/head/predictions" in n or "/small/predict" in n for n in quantised)
    if spec.small_level:
        assert "/model/small/tower/tower.0/Conv" in quantised
        assert "/model/small/predict/Conv" in convs
    (image,) = random_images((640, 384))
    out = open_session(int8, threads=1).run(None, runtime_feed(int8, image))
    want = open_session(fp32, threads=1).run(None, runtime_feed(fp32, image))
    assert [m.shape for m in out] == [m.shape for m in want]

    want = computed_weights(detector_from_onnx(fp32)[0])
    got = computed_weights(detector_from_onnx(int8)[0])
    for key, value in want.items():
        if value.dtype.is_floating_point and value.numel() > 1:
            scale = float(value.abs().max()) + 1e-9
            assert float((got[key] - value).abs().max()) / scale < 0.01, key


def computed_weights(model: torch.nn.Module) -> dict:
    """A detector's state with each BiFPN fusion's weights as the model uses them, normalised:
    an INT8 graph keeps only those (``trainer.detector_graph.fold_fusion_weights``)."""
    from trainer.models.detector import WeightedSum

    fused = {
        f"{name}.w": module.normalised().detach()
        for name, module in model.named_modules()
        if isinstance(module, WeightedSum)
    }
    return model.state_dict() | fused


def test_rewritten_detector_computes_the_same_and_its_weights_come_back(tmp_path):
    """The stem as SpaceToDepth + 2x2 conv and the merged prediction convolutions compute what
    the exported graph does, FP32 and INT8, and training can still start from the rewrite."""
    from trainer.detector_graph import (
        rewrite_detector,
        stem_kernel_from_space_to_depth,
        stem_kernel_to_space_to_depth,
    )
    from trainer.onnx_weights import detector_from_onnx

    kernel = np.random.default_rng(0).normal(size=(16, 3, 3, 3)).astype(np.float32)
    back = stem_kernel_from_space_to_depth(stem_kernel_to_space_to_depth(kernel))
    assert np.array_equal(back, kernel)
    fp32, int8 = tmp_path / "det.onnx", tmp_path / "int8.onnx"
    exported_random_detector(tmp_path, fp32, int8, rewrite=False)
    for plain in (fp32, int8):
        turned = tmp_path / f"{plain.stem}.s2d.onnx"
        sidecar = json.loads(plain.with_suffix(".json").read_text())
        sidecar |= rewrite_detector(plain, turned, sidecar)
        turned.with_suffix(".json").write_text(json.dumps(sidecar))
        graph = onnx.load(str(turned)).graph
        s2d = [n for n in graph.node if n.op_type == "SpaceToDepth"]
        if plain is fp32:
            assert len(s2d) == 1 and s2d[0].input[0] == "images"
        else:  # the image's quantisation and its blocks are made outside the graph, channels
            # last; the upsamplings are uint8 copies and the fusion weights are in the scales
            assert not s2d and "input_quantization" in sidecar
            blocks = graph.input[0].type.tensor_type
            assert (
                blocks.elem_type == onnx.TensorProto.UINT8 and blocks.shape.dim[3].dim_value == 12
            )
            assert not [n for n in graph.node if n.op_type == "Resize"]
            assert not [n for n in graph.node if n.op_type == "Mul" and "/fuse_" in n.name]
            assert len([n for n in graph.node if "/weighted_input_" in n.name]) == 9
        merged = [n for n in graph.node if n.op_type == "Split" and "/head/predictions" in n.name]
        assert len(merged) == 3  # one a level
        for image in random_images((640, 384), (320, 256)):
            want = open_session(plain, threads=1).run(None, runtime_feed(plain, image))
            got = open_session(turned, threads=1).run(None, runtime_feed(turned, image))
            # the merged FP32 prediction convolutions sum in another order
            for have, wanted in zip(got, want, strict=True):
                np.testing.assert_allclose(have, wanted, rtol=1e-4, atol=1e-3)
        want = computed_weights(detector_from_onnx(plain)[0])
        got = computed_weights(detector_from_onnx(turned)[0])
        for key, value in want.items():
            if key.endswith(".w"):  # folded into scales and read back from them
                torch.testing.assert_close(got[key], value, rtol=1e-3, atol=1e-6)
            else:
                assert torch.equal(got[key], value), key


def convs_onnx_runtime_runs_in_fp32(model: Path, tmp: Path) -> list[str]:
    """The convolutions left in FP32 by ONNX Runtime's QDQ fusion (optimised graph, read back)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp / f"{model.stem}.optimised.onnx")
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(options.optimized_model_filepath).graph.node
    return [n.name for n in nodes if n.op_type in ("Conv", "FusedConv")]


def tower_weights_computed_at_run_time(model: Path) -> list[str]:
    """The head-tower convolutions whose weights are not a DequantizeLinear of a constant."""
    graph = onnx.load(str(model)).graph
    constants = {i.name for i in graph.initializer}
    producers = {out: n for n in graph.node for out in n.output}
    towers = [n for n in graph.node if n.op_type == "Conv" and "/head/tower/" in n.name]
    return [c.name for c in towers if producers[c.input[1]].input[0] not in constants]


def test_every_quantised_detector_conv_runs_in_the_int8_kernel(tmp_path, monkeypatch):
    """The head towers' weights are shared by the three levels. Quantised as exported, their
    second and third use got weights requantised at run time and an FP32 bias, and ran as FP32
    convolutions (2.6 of 19 ms); untied before quantisation, every quantised one runs in INT8."""
    from trainer.export import quantize_detector_static

    fp32, int8 = tmp_path / "det.onnx", tmp_path / "int8.onnx"
    calibration = exported_random_detector(tmp_path, fp32, int8, rewrite=True)
    assert tower_weights_computed_at_run_time(int8) == []
    assert all("/head/predictions" in n for n in convs_onnx_runtime_runs_in_fp32(int8, tmp_path))
    embedded = DetectorConfig().model
    assert tower_weights_computed_at_run_time(embedded) == []
    assert all(
        "/head/predictions" in n for n in convs_onnx_runtime_runs_in_fp32(embedded, tmp_path)
    )

    monkeypatch.setattr("trainer.export.untie_shared_weights", lambda graph: None)
    tied = tmp_path / "tied.onnx"
    quantize_detector_static(fp32, tied, calibration, rewrite=False)
    assert len(tower_weights_computed_at_run_time(tied)) == 4  # 2 towers x their 2nd, 3rd level


def test_recognizer_soup_averages_weights_of_one_spec_only(tmp_path):
    """``platestream-train soup-recognizer``'s average: every float weight the mean of the
    ingredients', and checkpoints of different models refused rather than mixed."""
    from trainer.soup import average_checkpoints
    from trainer.train_recognizer import save_ocr

    spec = RecognizerSpec(dim=64, encoder_layers=1, decoder_layers=1)
    paths, models = [], []
    for seed, steps in ((0, 100), (1, 300)):
        torch.manual_seed(seed)
        models.append(PlateRecognizer(spec))
        paths.append(tmp_path / f"round{seed}.pt")
        save_ocr(paths[-1], models[-1], spec, steps, 60.0)
    soup = average_checkpoints(paths)
    a, b = (m.state_dict() for m in models)
    for name, tensor in soup["model"].items():
        torch.testing.assert_close(
            tensor, (a[name] + b[name]) / 2 if tensor.is_floating_point() else a[name]
        )
    assert soup["step"] == 300 and [i["steps"] for i in soup["soup_of"]] == [100, 300]
    PlateRecognizer(spec).load_state_dict(soup["model"])

    other = RecognizerSpec(dim=64, encoder_layers=2, decoder_layers=1)
    save_ocr(tmp_path / "other.pt", PlateRecognizer(other), other, 10, 1.0)
    with pytest.raises(ValueError, match="another model spec"):
        average_checkpoints([paths[0], tmp_path / "other.pt"])
    with pytest.raises(ValueError, match="at least two"):
        average_checkpoints(paths[:1])


def test_a_recognizer_soup_takes_an_exported_model_as_an_ingredient(tmp_path):
    """The model the rounds started from is an ONNX file (the embedded one): the soup reads
    its weights back rather than needing its checkpoint."""
    from trainer.export import export_recognizer
    from trainer.soup import average_checkpoints
    from trainer.train_recognizer import save_ocr

    spec = RecognizerSpec(dim=64, encoder_layers=1, decoder_layers=1)
    models, paths = [], []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(PlateRecognizer(spec))
        with torch.no_grad():  # distinct values, as after training (the exporter merges equal ones)
            for p in models[-1].parameters():
                p.add_(0.02 * torch.randn_like(p))
        paths.append(tmp_path / f"round{seed}.pt")
        save_ocr(paths[-1], models[-1], spec, 100, 1.0)
    export_recognizer(paths[0], tmp_path / "started.onnx")
    soup = average_checkpoints([tmp_path / "started.onnx", paths[1]])
    a, b = (m.state_dict() for m in models)
    for name, tensor in soup["model"].items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (a[name] + b[name]) / 2, atol=1e-6, rtol=1e-5)
    assert [i.get("steps") for i in soup["soup_of"]] == [0, 100]


def test_detector_soup_reads_its_ingredients_back_from_onnx(tmp_path):
    """A fine-tuning round recalibrates the BatchNorms it unfolds: the same network in other
    parameters. Averaging checkpoints would mix the two parametrisations; averaging the models
    as read back from ONNX (every BatchNorm folded alike) gives the network itself."""
    from trainer.export import export_detector
    from trainer.onnx_weights import detector_from_onnx, recalibrate_folded_batchnorm
    from trainer.soup import average_detectors, average_weights

    torch.manual_seed(0)
    spec = DetectorSpec()
    trained = PlateDetector(spec)
    with torch.no_grad():
        for m in trained.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    torch.save(
        {"spec": spec.to_dict(), "model": trained.state_dict(), "step": 1}, tmp_path / "a.pt"
    )
    export_detector(tmp_path / "a.pt", tmp_path / "a.onnx")
    recalibrated, _ = detector_from_onnx(tmp_path / "a.onnx")
    recalibrate_folded_batchnorm(recalibrated, torch.randn(4, 3, 320, 320))
    torch.save(
        {"spec": spec.to_dict(), "model": recalibrated.state_dict(), "step": 1}, tmp_path / "b.pt"
    )
    export_detector(tmp_path / "b.pt", tmp_path / "b.onnx")

    x = torch.randn(1, 3, 384, 640)
    expected = open_session(tmp_path / "a.onnx", threads=1).run(None, {"images": x.numpy()})
    soup = PlateDetector(spec)
    soup.load_state_dict(average_detectors([tmp_path / "a.onnx", tmp_path / "b.onnx"])["model"])
    naive = PlateDetector(spec)
    naive.load_state_dict(average_weights([trained.state_dict(), recalibrated.state_dict()]))
    assert_maps_close(soup.eval(), x, expected)
    with torch.no_grad():
        mixed = naive.eval()(x)
    assert not all(np.allclose(m.numpy(), e, atol=1e-2) for m, e in zip(mixed, expected))


@pytest.mark.parametrize("channels_last", [True, False], ids=["channels-last", "channels-first"])
@pytest.mark.parametrize(("scale", "zero_point"), [(1 / 128, 128), (0.0123, 117), (0.02, 0)])
@pytest.mark.parametrize("mean", [[127.5, 120.0, 100.0], [127.5] * 3], ids=["own", "one-table"])
def test_the_input_quantisation_table_is_onnx_runtimes_quantizelinear(
    tmp_path, scale, zero_point, channels_last, mean
):
    """``quantized_blocks`` stands for QuantizeLinear of the normalised image followed by
    SpaceToDepth (and, channels last, a Transpose): the table and the block order must give
    exactly what ONNX Runtime gives."""
    from onnx import TensorProto, helper

    from streamer.detector import quantization_table, quantized_blocks
    from streamer.modelfile import normalize_image

    std = [128.0, 60.0, 70.0] if len(set(mean)) > 1 else [128.0] * 3
    graph = helper.make_graph(
        [
            helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"]),
            helper.make_node("SpaceToDepth", ["q"], ["planar"], blocksize=2),
            helper.make_node("Transpose", ["planar"], ["blocks"], perm=[0, 2, 3, 1])
            if channels_last
            else helper.make_node("Identity", ["planar"], ["blocks"]),
        ],
        "quantise",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("blocks", TensorProto.UINT8, None)],
        [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("zero", TensorProto.UINT8, [], [zero_point]),
        ],
    )
    path = tmp_path / "quantise.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    rgb = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    rgb[:16, :16] = np.arange(256, dtype=np.uint8).reshape(16, 16)[..., None]  # every value
    want = open_session(path, threads=1).run(None, {"x": normalize_image(rgb[None], mean, std)})[0]
    table = quantization_table(mean, std, scale, zero_point)
    assert table.shape == ((1, 256, 3) if len(set(mean)) > 1 else (1, 256))
    np.testing.assert_array_equal(quantized_blocks(rgb, table, channels_last), want)
