"""The ``neuro`` command: builds the parser from the registered commands (:mod:`neuro.commands`) and runs one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from neuro import __version__
from neuro.commands.registry import ROOT, arg, build, command, load_commands, print_json
from neuro.errors import NeuroError

__all__ = ["arg", "build_parser", "command", "main", "print_json"]  # arg/command/print_json: also here, as before


def build_parser() -> argparse.ArgumentParser:
    if not ROOT.children:
        load_commands()
    parser = argparse.ArgumentParser(
        prog="neuro", description="Spiking neural networks: simulate, train, benchmark, export."
    )
    parser.add_argument("--version", action="version", version=f"neuro {__version__}")
    build(parser, ROOT)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args._handler(args)
    except NeuroError as e:
        print(f"neuro: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # run through the package module so commands register in one place
    from neuro.cli import main as _main

    sys.exit(_main())
