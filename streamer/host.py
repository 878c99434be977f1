"""The machine figures are measured on, named by what they depend on.

Timings of the INT8 models depend on the CPU's instructions more than on its clock, so
``platestream bench`` names them first (on stderr, beside its table or JSON) and every training
run records them in its summary (and so in the exported model's sidecar).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import onnxruntime as ort

#: CPU flags (Linux's /proc/cpuinfo names) of the instructions ONNX Runtime's INT8 kernels use,
#: fastest first: its products sum in 32 bits with VNNI or AMX, in 16-bit pairs with AVX2 alone
INT8_INSTRUCTIONS = (
    ("amx_int8", "AMX"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx2", "AVX2"),
    ("asimddp", "NEON dot product"),
)
#: the same for bfloat16 products, which ``--bf16`` training uses (1.8x the steps with AMX,
#: 1.6x with AVX-512 BF16 on the hosts measured; without either it may be slower)
BF16_INSTRUCTIONS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"))


def cpu_info(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The CPU's model name and flags, from Linux's cpuinfo; elsewhere the platform's name for
    the processor and no flags."""
    try:
        text = path.read_text()
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU", set()
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in text.splitlines())
        if value
    )
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return fields.get("model name") or platform.machine() or "unknown CPU", flags


def host_description(model: str, flags: set[str], cpus: int | None) -> str:
    """One line naming what the figures depend on: on the 2-core hosts measured, the detector
    ran 1.8-2.4x as fast on a CPU whose INT8 products sum in 32 bits (VNNI, AMX) as on one with
    AVX2 alone, so timings are compared between hosts of one kind, or as ratios."""
    int8 = next((name for flag, name in INT8_INSTRUCTIONS if flag in flags), "not known")
    bf16 = next((name for flag, name in BF16_INSTRUCTIONS if flag in flags), None)
    training = f", bfloat16 (--bf16 training) via {bf16}" if bf16 else ""
    runtime = f"onnxruntime {ort.__version__}"
    return f"{model}, {cpus or '?'} CPUs, INT8 via {int8}{training}; {runtime}"


def this_host() -> str:
    """``host_description`` of the machine this runs on."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return host_description(*cpu_info(), cpus)
