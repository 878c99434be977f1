"""Torch weights back out of exported ONNX models, so training can resume from the embedded
models when their checkpoints are gone (checkpoints are never committed; the ONNX files are).

The legacy exporter keeps parameter names for most initialisers but renames the tensors it
rewrites, so those are found by the graph path of the node that consumes them
(``/model/encoder/blocks/layers.0/linear1/MatMul`` -> ``encoder.blocks.layers.0.linear1.weight``):

- recognizer: matrices transposed into ``MatMul`` inputs; dynamic INT8 stores them as int8 +
  scale + zero point, dequantised here, which is close enough to fine-tune from;
- detector: static INT8 stores weights as ``DequantizeLinear`` of int8 constants, computed
  here; the rewrites of ``trainer.detector_graph`` are undone; every BatchNorm is folded into
  the convolution before it. The folded convolution is
  loaded as is, and its BatchNorm made to add back the folded bias: first as an exact identity,
  then, once real batches have measured each convolution's output statistics, re-parameterised
  (running mean/var = those statistics, gamma/beta compensating) so that it is still exact at
  inference and close to the identity in training mode, where batch statistics are used.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from streamer.modelfile import ctc_head_file, load_sidecar
from trainer.detector_graph import (
    fusion_weights,
    stem_kernel_from_space_to_depth,
    unmerged_prediction_weights,
)
from trainer.models.detector import DetectorSpec, PlateDetector
from trainer.models.recognizer import PlateRecognizer, RecognizerSpec

ATTENTION_MODULES = ("self_attn", "multihead_attn")


def _initializers(path: Path) -> tuple:
    """The graph and its constant tensors, with the (de)quantisation and Identity nodes on
    constants computed (static INT8 stores a weight as int8 -> DequantizeLinear; a detector
    quantised before its shared weights were untied stored a shared one as Identity ->
    QuantizeLinear -> DequantizeLinear), so a quantised model reads like an FP32 one."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    fold = {"Identity": lambda x: x, "DequantizeLinear": _dequantize, "QuantizeLinear": _quantize}
    for node in graph.node:  # in topological order
        if node.op_type in fold and all(name in init for name in node.input if name):
            attrs = {a.name: a.i for a in node.attribute}
            args = [init[name] for name in node.input if name]
            init[node.output[0]] = fold[node.op_type](*args, **attrs)
    return graph, init


def _channel_shape(x: np.ndarray, scale: np.ndarray, axis: int) -> list[int]:
    """Broadcast shape of a per-tensor or per-channel (along ``axis``) scale."""
    shape = [1] * x.ndim
    if scale.size > 1:  # a quantised bias is one channel a value
        shape[axis % x.ndim] = -1
    return shape


def _dequantize(q: np.ndarray, scale: np.ndarray, zero=None, axis: int = 1) -> np.ndarray:
    shape = _channel_shape(q, scale, axis)
    zero = np.zeros_like(scale) if zero is None else zero.astype(np.float32)
    return (q.astype(np.float32) - zero.reshape(shape)) * scale.reshape(shape)


def _quantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int = 1) -> np.ndarray:
    shape = _channel_shape(x, scale, axis)
    info = np.iinfo(zero.dtype)
    q = np.rint(x / scale.reshape(shape)) + zero.reshape(shape).astype(np.float32)
    return np.clip(q, info.min, info.max).astype(zero.dtype)


def _module_path(node_name: str) -> str:
    """``/model/backbone/stages.0/stages.0.0/expand/expand.0/Conv`` -> ``backbone.stages.0.0.
    expand.0``: the exporter's scopes repeat a container's name in its children's, and a module
    called again (the shared head) gets a ``_N`` suffix."""
    parts: list[str] = []
    for scope in node_name.strip("/").split("/")[1:-1]:
        scope = scope.split("_")[0] if scope.rsplit("_", 1)[-1].isdigit() else scope
        if parts and scope.startswith(parts[-1] + "."):
            parts[-1] = scope
        else:
            parts.append(scope)
    return ".".join(parts)


def _load(model: torch.nn.Module, weights: dict[str, np.ndarray], path: Path) -> None:
    state = model.state_dict()
    missing = sorted(k for k in state if k not in weights and not k.endswith("num_batches_tracked"))
    if missing:
        raise ValueError(f"{path}: no weights found for {', '.join(missing[:4])}")
    model.load_state_dict(
        {
            k: torch.from_numpy(np.array(weights[k], np.float32)).view(v.shape)
            if k in weights
            else v
            for k, v in state.items()
        }
    )


def _dequantized(init: dict[str, np.ndarray], name: str) -> np.ndarray:
    if not name.endswith("_quantized"):
        return init[name].astype(np.float32)
    base = name[: -len("_quantized")]
    q = init[name].astype(np.float32)
    return (q - init[base + "_zero_point"].astype(np.float32)) * init[base + "_scale"]


def _param_of_matmul(output: str) -> str | None:
    """The torch parameter behind a MatMul node, from the node's output path."""
    parts = output.split("/")
    if len(parts) < 4 or parts[1] != "model":
        return None
    module, op = parts[2:-1], parts[-1]
    if op.startswith("Gemm"):  # attention out_proj, exported as Gemm then split into a MatMul
        return ".".join(module) + ".out_proj.weight"
    if op == "QAttention":  # an INT8 self-attention with its projection (recognizer_graph)
        return ".".join(module) + ".in_proj_weight"
    if not op.startswith("MatMul"):
        return None
    if module[-1] in ATTENTION_MODULES:
        return ".".join(module) + ".in_proj_weight"
    return ".".join(module) + ".weight"


def recognizer_from_onnx(path: Path) -> tuple[PlateRecognizer, RecognizerSpec]:
    """A torch recognizer holding the weights of an exported (FP32 or INT8) ONNX model, and of
    its CTC head's file where it has one."""
    sidecar = load_sidecar(path)
    spec = RecognizerSpec(**sidecar["spec"])
    model = PlateRecognizer(spec)
    weights = _recognizer_weights(path)
    if head := ctc_head_file(path, sidecar):
        weights |= _recognizer_weights(head)
    _load(model, weights, path)
    return model, spec


def _recognizer_weights(path: Path) -> dict[str, np.ndarray]:
    graph, init = _initializers(path)
    weights: dict[str, np.ndarray] = {}
    for name in init:
        if name.startswith("model.") and not name.endswith(("_scale", "_zero_point")):
            key = name[len("model.") :].removesuffix("_quantized").removesuffix("_Transposed")
            value = _dequantized(init, name)
            weights[key] = value.T if "_Transposed" in name else value
    parts: dict[str, dict[str, np.ndarray]] = {}
    for node in graph.node:
        if node.op_type in ("MatMul", "MatMulInteger", "QAttention") and node.input[1] in init:
            path = node.name if node.op_type == "QAttention" else node.output[0]
            key = _param_of_matmul(path)
            if key is not None and key not in weights:
                parts.setdefault(key, {})[path] = _dequantized(init, node.input[1]).T
    for key, found in parts.items():  # a cross-attention's queries' then keys' and values' part
        weights[key] = np.concatenate([found[p] for p in sorted(found, key=_matmul_order)])
    return weights


def _matmul_order(path: str) -> int:
    """``…/MatMul_output_0`` 0, ``…/MatMul_1_output_0`` 1: the order the exporter made them in."""
    match = re.search(r"/MatMul(?:_(\d+))?_output", path)
    return int(match[1] or 0) if match else 0


def detector_from_onnx(path: Path) -> tuple[PlateDetector, DetectorSpec]:
    """A torch detector computing what an exported ONNX detector computes (eval mode); call
    ``recalibrate_folded_batchnorm`` before training it with batch statistics."""
    sidecar = load_sidecar(path)
    spec = DetectorSpec(**sidecar["spec"])
    model = PlateDetector(spec)
    modules = dict(model.named_modules())
    graph, init = _initializers(path)
    weights = {k[len("model.") :]: v for k, v in init.items() if k.startswith("model.")}
    seen = set()
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        conv = _module_path(node.name)
        if conv in seen:  # a head tower's later levels: the first call holds the weights as
            continue  # trained, later ones may hold a requantised copy
        seen.add(conv)
        weights[conv + ".weight"] = init[node.input[1]]
        if init[node.input[1]].shape[2:] == (2, 2) and modules[conv].kernel_size == (3, 3):
            weights[conv + ".weight"] = stem_kernel_from_space_to_depth(init[node.input[1]])
        parent, index = conv.rsplit(".", 1)
        bn = f"{parent}.{int(index) + 1}" if index.isdigit() else ""  # conv_bn: conv, BN, ReLU
        if isinstance(modules.get(bn), torch.nn.BatchNorm2d):
            eps = modules[bn].eps
            bias = init[node.input[2]]
            weights |= {
                f"{bn}.weight": np.full_like(bias, np.sqrt(1 + eps)),
                f"{bn}.bias": bias,
                f"{bn}.running_mean": np.zeros_like(bias),
                f"{bn}.running_var": np.ones_like(bias),
            }
        elif len(node.input) > 2:
            weights[conv + ".bias"] = init[node.input[2]]
    weights |= unmerged_prediction_weights(init)
    weights |= fusion_weights(graph, init)
    box_scales = [n for n in graph.node if n.op_type == "Mul" and "/head/box" in n.input[0]]
    weights["head.scales"] = np.array([init[n.input[1]] for n in box_scales], np.float32)
    weights["backbone.stem.1.bias"] = stem_bias_for_training_mean(
        weights["backbone.stem.1.bias"], weights["backbone.stem.0.weight"], sidecar
    )
    _load(model, weights, path)
    return model.eval(), spec


def stem_bias_for_training_mean(bias: np.ndarray, kernel: np.ndarray, sidecar: dict) -> np.ndarray:
    """The stem's bias for images normalised as in training, from that of a file whose input
    mean was moved (``trainer.detector_graph.take_raw_pixels``, which the bias compensates)."""
    from trainer.train_detector import INPUT_SPEC

    shift = (sidecar["mean"][0] - INPUT_SPEC["mean"][0]) / sidecar["std"][0]
    return bias - shift * kernel.sum(axis=(1, 2, 3))


@torch.no_grad()
def recalibrate_folded_batchnorm(model: PlateDetector, images: torch.Tensor) -> None:
    """Give each identity BatchNorm the statistics of its input on ``images`` without changing
    what it computes in eval mode: ``gamma (x - m) / sqrt(v + eps) + beta = x + bias``."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    stats: dict[torch.nn.Module, tuple] = {}

    def record(module: torch.nn.Module, args: tuple) -> None:
        stats[module] = (args[0].mean((0, 2, 3)), args[0].var((0, 2, 3)))

    hooks = [bn.register_forward_pre_hook(record) for bn in norms]
    model.eval()
    model(images)
    for h in hooks:
        h.remove()
    for bn in norms:
        mean, var = stats[bn]
        bias = bn.bias.clone()  # the folded bias: gamma was sqrt(1 + eps), mean 0, var 1
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean + bias)
