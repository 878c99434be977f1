"""ONNX export of trained checkpoints, with the JSON sidecar the runtime reads everything from.

The legacy TorchScript exporter (opset 17) writes these small models as one file in about a
second. The recognizer's graph includes the softmax; the detector's ends at its raw head maps,
which the runtime decodes where the score passes (``streamer.detector.decode_levels``).
"""

from __future__ import annotations

import copy
import json
import tempfile
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from streamer.charset import CHARSET
from streamer.modelfile import ctc_head_file, load_sidecar
from trainer.detector_graph import rewrite_detector, untie_shared_weights
from trainer.models.detector import OUTPUTS_NOTE, DetectorSpec, ExportedDetector, PlateDetector
from trainer.models.recognizer import PlateRecognizer, SoftmaxHead

OPSET = 17


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    dynamic: dict,
    outputs: tuple[str, ...] = ("output",),
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, example, str(path), dynamo=False, opset_version=OPSET,
            input_names=["images"], output_names=list(outputs), dynamic_axes=dynamic,
        )  # fmt: skip


def training_record(summary: Path | None, ckpt: dict) -> dict:
    """How the model was trained and what it scored, from the training run's summary JSON."""
    record = json.loads(summary.read_text()) if summary and summary.exists() else {}
    metrics = record.pop("val", {})
    return {"training": record | {"steps": ckpt["step"]}, "metrics": metrics}


def write_sidecar(onnx_path: Path, sidecar: dict) -> None:
    sidecar = {"version": date.today().isoformat(), "opset": OPSET, **sidecar}
    onnx_path.with_suffix(".json").write_text(
        json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n"
    )


def export_detector(checkpoint: Path, output: Path, summary: Path | None = None) -> None:
    from trainer.train_detector import ANCHOR_SHAPE, INPUT_SPEC

    ckpt = torch.load(checkpoint, weights_only=False)
    spec = DetectorSpec(**ckpt["spec"])
    model = PlateDetector(spec)
    model.load_state_dict(ckpt["model"])
    exported = ExportedDetector(model)
    export_onnx(
        exported,
        torch.zeros(1, 3, 384, 640),
        output,
        exported.dynamic_axes(),
        exported.output_names(),
    )
    record = training_record(summary, ckpt)
    write_sidecar(output, {
        "name": "platestream-detector",
        "architecture": "SCRFD-style: fused-IB backbone, BiFPN, head: score, box, 4 corners"
        + (", and a stride-4 level with its own light head" if spec.small_level else ""),
        "spec": spec.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        **INPUT_SPEC,
        "input_multiple": 32,
        "strides": list(spec.strides),
        "anchor_shape_in_strides": list(ANCHOR_SHAPE),
        "output": OUTPUTS_NOTE,
        # calibrated on the validation split by the training run
        "score_threshold": record["metrics"].pop("score_threshold", 0.4),
        "nms_iou": 0.45,
        **record,
    })  # fmt: skip


def export_recognizer(
    checkpoint: Path,
    output: Path,
    summary: Path | None = None,
    ctc_weight: float = 0.3,
    ctc_skip_confidence: float = 0.7,
    ctc_recount_weight: float = 0.8,
) -> None:
    """The checkpoint as ONNX + sidecar; a CTC head goes in a file of its own
    (``split_ctc_head``), read beside the queries with ``ctc_weight``
    (``streamer.recognizer.joint_reading``; ``ctc_recount_weight`` where the two heads' texts
    differ in length) where the queries' plate confidence is not above
    ``ctc_skip_confidence``."""
    from trainer.train_recognizer import INPUT_SPEC, load_ocr

    model, ckpt = load_ocr(checkpoint)
    spec = model.spec
    example = torch.zeros(1, 3, spec.input_height, spec.input_width)
    outputs = ("output", "ctc") if spec.ctc_head else ("output",)
    export_onnx(
        SoftmaxHead(with_fixed_shape_attention(model)),
        example,
        output,
        {"images": {0: "batch"}} | {name: {0: "batch"} for name in outputs},
        outputs,
    )
    if spec.ctc_head:
        split_ctc_head(output)
    ctc = {
        "ctc_model": ctc_head_path(output).name,
        "ctc_output": "(B, strips, classes) softmax per strip; class 0 = CTC blank",
        "ctc_rescoring_weight": ctc_weight,
        "ctc_recount_weight": ctc_recount_weight,
        "ctc_skip_confidence": ctc_skip_confidence,
    }
    write_sidecar(output, {
        "name": "platestream-recognizer",
        "architecture": "MaskOCR-style: strip ViT encoder (MAE), character-query decoder",
        "spec": spec.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        **INPUT_SPEC,
        "charset": list(CHARSET),
        "max_length": spec.max_length,
        "pad_class": 0,
        "output": "(B, max_length, classes) softmax per position; class 0 = end/pad",
        **(ctc if spec.ctc_head else {}),
        **training_record(summary, ckpt),
    })  # fmt: skip


def ctc_head_path(model: Path) -> Path:
    """The file beside a recognizer that holds its CTC head."""
    return model.with_name(f"{model.stem}_ctc.onnx")


def split_ctc_head(path: Path) -> Path:
    """Rewrite a recognizer exported with outputs (output, ctc) as two files: ``path`` reading
    the queries and giving the encoder's strip tokens as a second output, ``memory``, and
    ``ctc_head_path(path)`` reading ``memory`` into ``ctc``.

    ONNX Runtime runs every node of a graph whatever outputs are asked for, so a head in the
    same graph costs its time on every plate (1.2-1.4x the model's); in a file of its own it
    runs only where the queries are unsure. The nodes are the original graph's, so an FP32 or
    an INT8 file splits exactly."""
    import onnx
    from onnx.utils import Extractor

    model = onnx.load(str(path))
    graph = model.graph
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}

    def nodes_behind(tensor: str) -> set[int]:
        seen, todo = set(), [tensor]
        while todo:
            i = producer.get(todo.pop())
            if i is not None and i not in seen:
                seen.add(i)
                todo.extend(graph.node[i].input)
        return seen

    queries = nodes_behind("output")
    head = [graph.node[i] for i in nodes_behind("ctc") - queries]
    shared = {out for i in queries for out in graph.node[i].output}
    memory = {name for node in head for name in node.input if name in shared}
    memory &= tensors_computed_from(graph, "images")  # not the constants both paths use
    if len(memory) != 1:
        raise ValueError(f"{path}: the CTC head does not read one tensor of the encoder's")
    rename_tensor(graph, memory.pop(), "memory")
    model = onnx.shape_inference.infer_shapes(model)  # the Extractor takes the parts' types here
    head_file = ctc_head_path(path)
    for names, outputs, file in (
        (["memory"], ["ctc"], head_file),
        (["images"], ["output", "memory"], path),
    ):
        part = Extractor(model).extract_model(names, outputs)
        for info in [*part.graph.input, *part.graph.output]:
            if info.name == "memory":  # the batch axis as the other inputs and outputs name it
                info.type.tensor_type.shape.dim[0].dim_param = "batch"
        onnx.save(part, str(file))
    return head_file


def tensors_computed_from(graph, tensor: str) -> set[str]:
    found = {tensor}
    for node in graph.node:  # in topological order
        if found.intersection(node.input):
            found.update(node.output)
    return found


def rename_tensor(graph, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for info in graph.value_info:
        if info.name == old:
            info.name = new


class FixedShapeAttention(torch.nn.MultiheadAttention):
    """``nn.MultiheadAttention`` as exported: batch first, the heads split and merged by
    reshapes to constant sizes.

    Torch's own forward computes those sizes from the input's shape, which the exporter writes
    out as about 700 Shape, Gather, Unsqueeze and Concat nodes that ONNX Runtime runs on every
    call: at batch 8 they took a quarter of the recognizer's time. The sequence lengths are
    fixed by the model (strips, character queries), so they are constants here. Parameters
    and module paths stay those of the trained model, so the weights still load back from
    the ONNX file (``trainer.onnx_weights``).
    """

    query_len: int
    key_len: int

    def forward(self, query, key, value, key_padding_mask=None, need_weights=False,
                attn_mask=None, average_attn_weights=True, is_causal=False):  # fmt: skip
        if key_padding_mask is not None or attn_mask is not None or need_weights or is_causal:
            raise ValueError("FixedShapeAttention exports unmasked attention without weights")
        heads, dim = self.num_heads, self.embed_dim
        w, b = self.in_proj_weight, self.in_proj_bias
        if query is key:  # self-attention: one projection, cut in three
            qkv = F.linear(query, w, b)
            q, k, v = qkv[..., :dim], qkv[..., dim : 2 * dim], qkv[..., 2 * dim :]
        else:  # cross-attention: the queries' projection, and the memory's for keys and values
            (w_q, w_kv), (b_q, b_kv) = w.split([dim, 2 * dim]), b.split([dim, 2 * dim])
            q, kv = F.linear(query, w_q, b_q), F.linear(key, w_kv, b_kv)
            k, v = kv[..., :dim], kv[..., dim:]
        q = q.reshape(-1, self.query_len, heads, dim // heads).transpose(1, 2)
        k = k.reshape(-1, self.key_len, heads, dim // heads).transpose(1, 2)
        v = v.reshape(-1, self.key_len, heads, dim // heads).transpose(1, 2)
        weights = (q @ k.transpose(-1, -2) * (dim // heads) ** -0.5).softmax(-1)
        out = (weights @ v).transpose(1, 2).reshape(-1, self.query_len, dim)
        return self.out_proj(out), None


def with_fixed_shape_attention(model: PlateRecognizer) -> PlateRecognizer:
    """A copy of ``model`` whose attention layers are ``FixedShapeAttention`` (same weights)."""
    model = copy.deepcopy(model).eval()
    strips, queries = model.spec.num_strips, model.spec.max_length
    lengths = [(layer.self_attn, strips, strips) for layer in model.encoder.blocks.layers]
    for layer in model.decoder.blocks.layers:
        lengths += [(layer.self_attn, queries, queries), (layer.multihead_attn, queries, strips)]
    if model.ctc is not None:
        lengths += [(layer.self_attn, strips, strips) for layer in model.ctc.blocks.layers]
    for attention, query_len, key_len in lengths:
        attention.__class__ = FixedShapeAttention
        attention.query_len, attention.key_len = query_len, key_len
    return model


def quantize_dynamic_int8(onnx_path: Path, output: Path) -> Path:
    """ONNX Runtime dynamic INT8 quantisation (weights INT8, activations quantised on the fly),
    of every MatMul: weights that the graph computes from constants (the cross-attention's
    projections) are made constants first (``fold_matmul_weights``; they stayed FP32 before
    2026-12-07: 0.94 of the time at batch 8, the val crops' reads unchanged)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from trainer.onnx_graph import fold_matmul_weights

    proto = onnx.load(str(onnx_path))
    fold_matmul_weights(proto)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # a file: older quantisers take no ModelProto
        folded = Path(tmp) / onnx_path.name
        onnx.save(proto, str(folded))
        quantize_dynamic(str(folded), str(output), weight_type=QuantType.QInt8)
    return output


def quantize_recognizer(onnx_path: Path, output: Path) -> Path:
    """``quantize_dynamic_int8`` of a recognizer and of its CTC head's file where it has one,
    with the sidecar copied (naming the quantised head)."""
    from trainer.recognizer_graph import rewrite_recognizer

    sidecar = json.loads(onnx_path.with_suffix(".json").read_text(encoding="utf-8"))
    rewrite_recognizer(quantize_dynamic_int8(onnx_path, output), output)
    if head := ctc_head_file(onnx_path, sidecar):
        quantized_head = quantize_dynamic_int8(head, ctc_head_path(output))
        rewrite_recognizer(quantized_head, quantized_head)
        sidecar["ctc_model"] = quantized_head.name
    output.with_suffix(".json").write_text(
        json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return output


#: detector nodes kept in FP32 by ``quantize_detector_static``: the final score/box/corner convs
#: (INT8 there raised the CCPD corner error from 2.72 to 2.97 % of the plate width, for no
#: speed) and everything after them (decoding: INT8 anchor coordinates find nothing).
DETECTOR_INT8_SCOPES = ("/model/backbone/", "/model/neck/", "/model/head/tower/", "/model/small/")
DETECTOR_INT8_OPS = ("Conv", "Relu", "Add", "Mul", "MaxPool", "Resize", "Concat")


def detector_nodes_to_quantize(graph) -> list[str]:
    """The backbone, neck, head towers and the stride-4 level but its prediction convolution,
    without the fusion-weight arithmetic (a few scalars, normalised by their sum: rounding them
    changes every fused feature)."""

    def wanted(node) -> bool:
        if node.op_type not in DETECTOR_INT8_OPS or not node.name.startswith(DETECTOR_INT8_SCOPES):
            return False
        if node.name.startswith("/model/small/predict/"):
            return False
        if "/fuse_" in node.name:  # keep only the weighted sum of the features themselves
            return node.name.rsplit("/", 1)[-1].startswith(("Mul", "Add_"))
        return True

    return [node.name for node in graph.node if wanted(node)]


def quantize_detector_static(
    onnx_path: Path, output: Path, calibration: list[np.ndarray], rewrite: bool = True
) -> dict:
    """ONNX Runtime static INT8 (QDQ, per-channel weights, min/max activation ranges measured
    on ``calibration``: preprocessed (1, 3, H, W) batches of real frames), then rewritten in
    the form ONNX Runtime runs faster (``trainer.detector_graph``); returns what
    the rewrite adds to the sidecar.

    The weights are kept to 7 bits (``reduce_range``). On x86 CPUs without VNNI (AVX2 only, as on
    many AMD EPYC hosts) ONNX Runtime multiplies u8 activations by s8 weights with VPMADDUBSW,
    whose 16-bit pair sums saturate with 8-bit weights: the same model then finds fewer
    plates there than on a VNNI CPU. With 7-bit weights no pair sum can saturate, so the
    model computes the same on every CPU."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch}

    proto = onnx.load(str(onnx_path))
    untie_shared_weights(proto.graph)
    nodes = detector_nodes_to_quantize(proto.graph)
    output.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        proto, str(output), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax, nodes_to_quantize=nodes,
        reduce_range=True,
    )  # fmt: skip
    return rewrite_detector(output, output, load_sidecar(onnx_path)) if rewrite else {}
