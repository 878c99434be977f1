"""Training logs: a CSV written line by line (a running job can be watched) and its PNG plot."""

from __future__ import annotations

import csv
from pathlib import Path


class TrainLog:
    def __init__(self, path: Path, columns: list[str], append: bool = False):
        self.path = path
        if not append or not path.exists():
            path.write_text(",".join(columns) + "\n")

    def write(self, *values) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([f"{v:.6g}" if isinstance(v, float) else v for v in values])

    def plot(self) -> Path:
        return plot_log(self.path)


def plot_log(path: Path) -> Path:
    """Every loss column and the learning rate against the step, beside the CSV as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    steps = [float(r["step"]) for r in rows]
    curves = [c for c in rows[0] if c not in ("step", "seconds", "lr", "frozen")] if rows else []
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=(3, 1))
    for c in curves:
        ax.plot(steps, [float(r[c]) for r in rows], label=c)
    ax.set_yscale("log")
    ax.set_ylabel("loss")
    if curves:  # a run shorter than one log interval has none
        ax.legend()
    ax.grid(alpha=0.3)
    ax_lr.plot(steps, [float(r["lr"]) for r in rows], color="k")
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax.set_title(Path(path).stem)
    out = Path(path).with_suffix(".png")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
