"""The recognizer's alphabet and the text rules every score uses.

One charset covers Chinese plates (the CCPD province characters) and Latin plates. Class 0 is
the end/pad class: the recognizer predicts it at every position after the last character, so
plates of any length up to the model's maximum are read. The exported model's sidecar stores the
charset it was trained with; the runtime decodes with that list, this one is the trainer's source.
"""

from __future__ import annotations

import re

import numpy as np

PAD = "<pad>"

#: CCPD's official province table, in CCPD's index order (its trailing "O" placeholder dropped).
PROVINCES = (
    "皖", "沪", "津", "渝", "冀", "晋", "蒙", "辽", "吉", "黑", "苏", "浙", "京", "闽", "赣", "鲁",
    "豫", "鄂", "湘", "粤", "桂", "琼", "川", "贵", "云", "藏", "陕", "甘", "青", "宁", "新", "警",
    "学",
)  # fmt: skip
LATIN = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
CHARSET: tuple[str, ...] = (PAD, *PROVINCES, *LATIN)
MAX_LENGTH = 10

_INDEX = {c: i for i, c in enumerate(CHARSET)}
_NOT_ALNUM = re.compile(r"[^0-9A-Z\u4e00-\u9fff]")


def normalize_text(text: str) -> str:
    """Letters and digits only, upper-cased: how plates are compared everywhere."""
    return _NOT_ALNUM.sub("", text.upper())


def encode(text: str, max_length: int = MAX_LENGTH) -> np.ndarray:
    """Class indices of a normalised plate, padded with the end class to ``max_length``.

    Raises ValueError for characters outside the charset or texts that are too long, so that a
    bad label is reported where it is read rather than trained on.
    """
    norm = normalize_text(text)
    if not norm or len(norm) > max_length:
        raise ValueError(f"plate text {text!r} has {len(norm)} characters (1..{max_length})")
    unknown = [c for c in norm if c not in _INDEX]
    if unknown:
        raise ValueError(f"plate text {text!r} has characters outside the charset: {unknown}")
    out = np.zeros(max_length, dtype=np.int64)
    out[: len(norm)] = [_INDEX[c] for c in norm]
    return out


def decode_probs(
    probs: np.ndarray, charset: tuple[str, ...] | list[str] = CHARSET
) -> tuple[str, list[float]]:
    """Greedy read of one plate's (max_length, classes) probabilities.

    Reading stops at the first end class; returns the text and each character's probability.
    """
    best = probs.argmax(-1)
    text, confs = [], []
    for pos, cls in enumerate(best):
        if cls == 0:
            break
        text.append(charset[cls])
        confs.append(float(probs[pos, cls]))
    return "".join(text), confs


def ctc_peaks(probs: np.ndarray) -> list[int]:
    """The greedy CTC read of one plate's (strips, classes) probabilities, class 0 being the
    blank, as the strip where each character peaks: runs of one class are one character (a
    blank separates a doubled one), and a run's character is where its probability is highest."""
    best = probs.argmax(-1)
    peaks: list[int] = []
    previous = 0
    for strip, cls in enumerate(best):
        if cls != 0 and cls == previous:
            if probs[strip, cls] > probs[peaks[-1], cls]:
                peaks[-1] = strip
        elif cls != 0:
            peaks.append(strip)
        previous = cls
    return peaks


def decode_ctc(
    probs: np.ndarray, charset: tuple[str, ...] | list[str] = CHARSET
) -> tuple[str, list[float]]:
    """Greedy CTC read (``ctc_peaks``): the text and each character's probability at its peak."""
    best = probs.argmax(-1)
    peaks = ctc_peaks(probs)
    return "".join(charset[best[s]] for s in peaks), [float(probs[s, best[s]]) for s in peaks]
