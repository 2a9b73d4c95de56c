"""The ``neuro`` command: builds the parser from the registered commands (:mod:`neuro.commands`) and runs one.

Errors raised by the library (:class:`neuro.errors.NeuroError`) are printed without a traceback,
with its parameter names rewritten as the command's options (:func:`cli_terms`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from neuro import __version__
from neuro.commands.registry import ROOT, HelpFormatter, arg, build, command, load_commands, print_json
from neuro.errors import NeuroError

__all__ = ["arg", "build_parser", "cli_terms", "command", "main", "print_json"]  # arg/command/print_json: as before


def build_parser() -> argparse.ArgumentParser:
    load_commands()  # every module, even when one was imported on its own before (imports are cached)
    parser = argparse.ArgumentParser(
        prog="neuro", description="Spiking neural networks: simulate, train, benchmark, export.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neuro {__version__}")
    build(parser, ROOT)
    return parser


def cli_terms(message: str, parser: argparse.ArgumentParser) -> str:
    """Rewrite the library's parameter names in ``message`` as ``parser``'s options.

    Only names that are options of this command are rewritten: ``download=True`` becomes
    ``--download`` (a switch), ``input_shape=(2, 34, 34)`` becomes ``--input-shape 2 34 34``,
    ``epochs=0`` becomes ``--epochs 0`` and a bare ``root=`` becomes ``--root``.
    """
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or action.dest in ("help", "version"):
            continue
        flag, name = longs[0], r"(?<![\w.-])" + re.escape(action.dest) + "="
        if action.nargs == 0 and action.const is True:  # store_true
            message = re.sub(name + r"True\b", flag, message)
        message = re.sub(name + r"[(\[]([^()\[\]]*)[)\]]",
                         lambda m, flag=flag: " ".join([flag, *m[1].replace(",", " ").split()]), message)
        message = re.sub(name + r"(?=[\w'\"-])", flag + " ", message)
        message = re.sub(name, flag, message)
    return message


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args._handler(args)
    except NeuroError as e:
        print(f"neuro: error: {cli_terms(str(e), args._parser)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # run through the package module so commands register in one place
    from neuro.cli import main as _main

    sys.exit(_main())
