"""Torch weights back out of an exported recognizer ONNX file, so training can resume from the
embedded model when its checkpoint is gone (checkpoints are never committed; the ONNX is).

The legacy exporter keeps parameter names for most initialisers but renames the matrices it
transposes into ``MatMul`` inputs, and dynamic INT8 quantisation stores those as int8 + scale +
zero point. Each such matrix is named here by the graph path of the node that consumes it
(``/model/encoder/blocks/layers.0/linear1/MatMul`` -> ``encoder.blocks.layers.0.linear1.weight``)
and dequantised, which is close enough to fine-tune from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from trainer.models.recognizer import PlateRecognizer, RecognizerSpec

ATTENTION_MODULES = ("self_attn", "multihead_attn")


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
    if not op.startswith("MatMul"):
        return None
    if module[-1] in ATTENTION_MODULES:
        return ".".join(module) + ".in_proj_weight"
    return ".".join(module) + ".weight"


def recognizer_from_onnx(path: Path) -> tuple[PlateRecognizer, RecognizerSpec]:
    """A torch recognizer holding the weights of an exported (FP32 or INT8) ONNX model."""
    import onnx
    from onnx import numpy_helper

    spec = RecognizerSpec(**json.loads(path.with_suffix(".json").read_text())["spec"])
    model = PlateRecognizer(spec)
    graph = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    weights: dict[str, np.ndarray] = {}
    for name in init:
        if name.startswith("model.") and not name.endswith(("_scale", "_zero_point")):
            key = name[len("model.") :].removesuffix("_quantized").removesuffix("_Transposed")
            value = _dequantized(init, name)
            weights[key] = value.T if "_Transposed" in name else value
    for node in graph.node:
        if node.op_type in ("MatMul", "MatMulInteger") and node.input[1] in init:
            key = _param_of_matmul(node.output[0])
            if key is not None and key not in weights:
                weights[key] = _dequantized(init, node.input[1]).T
    state = model.state_dict()
    missing = sorted(set(state) - set(weights))
    if missing:
        raise ValueError(f"{path}: no weights found for {', '.join(missing[:4])}")
    model.load_state_dict(
        {
            k: torch.from_numpy(np.ascontiguousarray(weights[k])).view(v.shape)
            for k, v in state.items()
        }
    )
    return model, spec
