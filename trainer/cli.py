"""``platestream-train``: one entry point for data generation, training, export and evaluation.

Each subcommand lives in the module that does the work and registers itself through a
``register(subparsers)`` function, so this file only lists them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from streamer.modelfile import ModelError

#: module path of every subcommand group, in the order they are shown.
SUBCOMMAND_MODULES = (
    "trainer.synth.commands",
    "trainer.train_detector",
    "trainer.train_recognizer",
    "trainer.eval.commands",
    "trainer.eval.evaluate",
    "trainer.reference_models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platestream-train",
        description="Generate synthetic data, train and export the platestream models.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in {"torch", "PIL", "onnx", "matplotlib"}:
                continue  # the [train] extra is not installed: hide what needs it
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        from streamer.cli import reader_gone

        return reader_gone()
    except (FileNotFoundError, ValueError, ModelError) as exc:
        print(f"platestream-train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
