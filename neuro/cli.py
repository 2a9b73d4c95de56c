"""The ``neuro`` command.

Sub-commands live in the modules of :mod:`neuro.commands`; each registers itself with
:func:`command`.  A command is a path of words (``"bench lif"``), a help line, a list of
arguments made with :func:`arg`, and a function ``(args) -> int`` (the exit status).
Modules import heavy dependencies inside the command functions so that ``neuro --help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
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


def _build(parser: argparse.ArgumentParser, group: _Group) -> None:
    subs = parser.add_subparsers(dest="_cmd_" + str(id(group)), metavar="COMMAND")
    subs.required = True
    for name, child in sorted(group.children.items()):
        if isinstance(child, Command):
            p = subs.add_parser(name, help=child.help, description=child.help)
            for flags, kw in child.args:
                p.add_argument(*flags, **kw)
            p.set_defaults(_handler=child.handler)
        else:
            p = subs.add_parser(name, help=child.help, description=child.help)
            _build(p, child)


def build_parser() -> argparse.ArgumentParser:
    if not _ROOT.children:
        _load_commands()
    parser = argparse.ArgumentParser(
        prog="neuro", description="Spiking neural networks: simulate, train, benchmark, export."
    )
    from neuro import __version__

    parser.add_argument("--version", action="version", version=f"neuro {__version__}")
    _build(parser, _ROOT)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from neuro.errors import NeuroError

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
