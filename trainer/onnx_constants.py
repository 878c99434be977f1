"""Constant folding of quantised ONNX graphs in numpy: the tensors a graph computes from its
initializers alone, through (de)quantisation and Identity nodes.

Static INT8 stores a weight as int8 -> DequantizeLinear (and, before the detector's shared
weights were untied, a shared one as Identity -> QuantizeLinear -> DequantizeLinear); reading
those values lets the trainer resume from a quantised model (``trainer.onnx_weights``).
"""

from __future__ import annotations

import numpy as np


def constant_tensors(graph) -> dict[str, np.ndarray]:
    """The initializers and every node output computable from them alone."""
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    fold = {"Identity": lambda x: x, "DequantizeLinear": dequantize, "QuantizeLinear": quantize}
    for node in graph.node:  # in topological order
        if node.op_type in fold and all(name in values for name in node.input if name):
            attrs = {a.name: a.i for a in node.attribute}
            args = [values[name] for name in node.input if name]
            values[node.output[0]] = fold[node.op_type](*args, **attrs)
    return values


def _channel_shape(x: np.ndarray, scale: np.ndarray, axis: int) -> list[int]:
    """Broadcast shape of a per-tensor or per-channel (along ``axis``) scale."""
    shape = [1] * x.ndim
    if scale.size > 1:  # a quantised bias is one channel a value
        shape[axis % x.ndim] = -1
    return shape


def dequantize(q: np.ndarray, scale: np.ndarray, zero=None, axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear."""
    shape = _channel_shape(q, scale, axis)
    zero = np.zeros_like(scale) if zero is None else zero.astype(np.float32)
    return (q.astype(np.float32) - zero.reshape(shape)) * scale.reshape(shape)


def quantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int = 1) -> np.ndarray:
    """ONNX QuantizeLinear (round half to even, saturate)."""
    shape = _channel_shape(x, scale, axis)
    info = np.iinfo(zero.dtype)
    q = np.rint(x / scale.reshape(shape)) + zero.reshape(shape).astype(np.float32)
    return np.clip(q, info.min, info.max).astype(zero.dtype)
