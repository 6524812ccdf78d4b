"""``python -m deforum_blender``: sub-commands as in DESIGN.md §4.

Each sub-command lives in the module that owns its capability; this file only
wires them into argparse and turns errors into exit statuses (2 bad input,
1 failure while running).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .core.errors import DeforumInputError

Handler = Callable[[argparse.Namespace], int]


def _make_tiny_models(args: argparse.Namespace) -> int:
    from .engine.tiny_models import make_tiny_models

    written = make_tiny_models(Path(args.dir))
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command that exists today."""
    parser = argparse.ArgumentParser(
        prog="deforum-blender",
        description="Deforum-style Stable Diffusion animations driven by a Blender camera.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tiny = commands.add_parser(
        "make-tiny-models",
        help="write tiny random-weight SD and depth models for tests and the offline demo",
    )
    tiny.add_argument("dir", help="output folder; DIR/sd and DIR/depth are written")
    tiny.set_defaults(handler=_make_tiny_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except DeforumInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as error:  # a failure while running: one line, not a traceback
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
