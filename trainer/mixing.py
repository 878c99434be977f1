"""The ``--group-weight`` option of both trainers, which changes one data group's share of the
batches: each trainer draws a sample's group first, so a small hard group (the Spanish street
scenes, the US crops) gets the share it is given, not its size's."""

from __future__ import annotations

import argparse
from collections.abc import Iterable


def group_weight(text: str) -> tuple[str, float]:
    """Parses GROUP=W for ``--group-weight``."""
    name, sep, weight = text.partition("=")
    try:
        value = float(weight) if sep and name else None
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected GROUP=W, e.g. br=0.2")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a weight cannot be negative")
    return name, value


def check_group_names(weights: dict[str, float], groups: Iterable[str]) -> None:
    """A weight for a group that is not there is a typo, not a no-op: say which groups are."""
    known = sorted(groups)
    unknown = [name for name in weights if name not in known]
    if unknown:
        raise ValueError(
            f"unknown group {unknown[0]!r} in --group-weight: one of {', '.join(known)}"
        )
