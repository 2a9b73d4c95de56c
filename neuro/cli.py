"""The ``neuro`` command.

Sub-commands live in the modules of :mod:`neuro.commands`; each registers itself with
:func:`command`.  A command is a path of words (``"bench lif"``), a help line, a list of
arguments made with :func:`arg`, and a function ``(args) -> int`` (the exit status).
Modules import heavy dependencies inside the command functions so that ``neuro --help``
stays fast.

Option values are checked by the ``type=`` helpers below (:func:`positive_int`,
:func:`output_file`, ...), so a bad value ends in argparse's usage error naming the option.
Every option has a help text; defaults are appended to it by one help formatter.  Errors
raised by the library (:class:`neuro.errors.NeuroError`) are printed without a traceback,
with its parameter names rewritten as the command's options (:func:`cli_terms`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[argparse.Namespace], int | None]


@dataclass
class Command:
    path: tuple[str, ...]
    help: str
    args: list[tuple[tuple[Any, ...], dict[str, Any]]]
    handler: Handler


@dataclass
class _Group:
    help: str = ""
    children: dict[str, _Group | Command] = field(default_factory=dict)


_ROOT = _Group()
_GROUP_HELP = {
    "bench": "benchmarks against the peers (prints a table; --json for JSON)",
    "train": "train a model and save a checkpoint, a JSON summary and plots",
    "experiment": "run a complete experiment and report its table",
    "events": "inspect event recordings",
    "lava": "manage the Lava (Python 3.10) environment used by the lava backend",
    "data": "download and inspect datasets",
}


# ----------------------------------------------------------------------------- option value types
# Each takes the string from the command line and returns the value or raises
# ArgumentTypeError; argparse turns that into "argument --epochs: must be ...".


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None


def _float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {s!r}")
    return v


def positive_int(s: str) -> int:
    """An integer >= 1 (epochs, batch size, layer widths, time steps)."""
    v = _int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s!r}")
    return v


def nonnegative_int(s: str) -> int:
    """An integer >= 0 (seeds, delays)."""
    v = _int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {s!r}")
    return v


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """A type accepting the integers ``lo..hi`` (inclusive)."""

    def check(s: str) -> int:
        v = _int(s)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {s!r}")
        return v

    check.__name__ = f"int_in_{lo}_{hi}"
    return check


def positive_float(s: str) -> float:
    """A finite number > 0 (time steps in seconds, widths)."""
    v = _float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {s!r}")
    return v


def nonnegative_float(s: str) -> float:
    """A finite number >= 0 (regularization strengths)."""
    v = _float(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {s!r}")
    return v


def output_file(s: str) -> str:
    """A file path to write: its folder must exist and be writable, and it must not be a folder."""
    path = os.path.abspath(s)
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{s!r} is a folder; give a file name")
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"folder {os.path.dirname(s) or parent!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"folder {os.path.dirname(s) or parent!r} is not writable")
    return s


def output_dir(s: str) -> str:
    """A folder to write into (created if missing): it, or the nearest existing folder above it, must be writable."""
    path = os.path.abspath(s)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{path!r} is a file, not a folder")
    if not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"folder {path!r} is not writable")
    return s


# ----------------------------------------------------------------------------- commands


def arg(*flags: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """An argument spec, passed on to ``argparse.ArgumentParser.add_argument``."""
    return flags, kwargs


def command(path: str, help: str, args: Sequence[tuple[tuple[Any, ...], dict[str, Any]]] = ()):
    """Register the decorated function as the sub-command ``neuro <path>``."""
    words = tuple(path.split())

    def deco(fn: Handler) -> Handler:
        node = _ROOT
        for w in words[:-1]:
            child = node.children.setdefault(w, _Group(_GROUP_HELP.get(w, "")))
            if isinstance(child, Command):
                raise RuntimeError(f"command path {path!r} clashes with command {w!r}")
            node = child
        if words[-1] in node.children:
            raise RuntimeError(f"command {path!r} registered twice")
        node.children[words[-1]] = Command(words, help, list(args), fn)
        return fn

    return deco


def commands() -> list[Command]:
    """Every registered command, in the order of ``neuro --help``."""
    if not _ROOT.children:
        _load_commands()
    out: list[Command] = []

    def walk(group: _Group) -> None:
        for _, child in sorted(group.children.items()):
            out.append(child) if isinstance(child, Command) else walk(child)

    walk(_ROOT)
    return out


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (numpy and torch scalars converted)."""

    def default(o: Any) -> Any:
        if hasattr(o, "item"):
            return o.item()
        if hasattr(o, "tolist"):
            return o.tolist()
        return str(o)

    print(json.dumps(obj, indent=2, default=default))


def _load_commands() -> None:
    import neuro.commands as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to an option's help when it has a default worth showing
    (not None, not an off switch) and the help does not already speak of its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if d is None or d is False or d is argparse.SUPPRESS or "default" in text:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        shown = " ".join(map(str, d)) if isinstance(d, list | tuple) else str(d)
        return f"{text} (default: {shown.replace('%', '%%')})"


def _build(parser: argparse.ArgumentParser, group: _Group) -> None:
    subs = parser.add_subparsers(dest="_cmd_" + str(id(group)), metavar="COMMAND")
    subs.required = True
    for name, child in sorted(group.children.items()):
        p = subs.add_parser(name, help=child.help, description=child.help, formatter_class=_HelpFormatter)
        if isinstance(child, Command):
            for flags, kw in child.args:
                p.add_argument(*flags, **kw)
            p.set_defaults(_handler=child.handler, _parser=p)
        else:
            _build(p, child)


def build_parser() -> argparse.ArgumentParser:
    if not _ROOT.children:
        _load_commands()
    parser = argparse.ArgumentParser(
        prog="neuro", description="Spiking neural networks: simulate, train, benchmark, export.",
        formatter_class=_HelpFormatter,
    )
    from neuro import __version__

    parser.add_argument("--version", action="version", version=f"neuro {__version__}")
    _build(parser, _ROOT)
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
    from neuro.errors import NeuroError

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
