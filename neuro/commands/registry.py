"""The command registry: how a sub-command declares itself, and how commands print their results.

Each module of :mod:`neuro.commands` registers its commands with :func:`command` when imported
(:func:`load_commands` imports them all); :mod:`neuro.cli` builds the parser from the tree and runs
it.  A command is a path of words (``"bench lif"``), a help line, a list of arguments made with
:func:`arg`, and a function ``(args) -> int`` (the exit status).  Modules import heavy dependencies
inside the command functions so that ``neuro --help`` stays fast.

Option values are checked by the ``type=`` helpers of :mod:`neuro.commands.options`, so a bad value
ends in argparse's usage error naming the option.  Every option has a help text; defaults are
appended to it by one help formatter (:class:`HelpFormatter`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


ROOT = _Group()
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
        node = ROOT
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

    print(json.dumps(obj, indent=2, default=default), flush=True)  # print ends it with a newline


def print_outputs(files: dict[str, str]) -> None:
    """Where a training run wrote its files (``files`` from :func:`neuro.training.output_files`)."""
    plots = [v for v in files.values() if v.endswith(".png")]
    print(f"checkpoint: {files['best_checkpoint']} (best validation accuracy; last epoch: {files['last_checkpoint']})")
    print(f"summary:    {files['summary']} (history per epoch: {files['history']})")
    print(f"plots:      {', '.join(plots)}")


def commands() -> list[Command]:
    """Every registered command, in the order of ``neuro --help``."""
    load_commands()  # every module, even when one was imported on its own before (imports are cached)
    out: list[Command] = []

    def walk(group: _Group) -> None:
        for _, child in sorted(group.children.items()):
            out.append(child) if isinstance(child, Command) else walk(child)

    walk(ROOT)
    return out


def load_commands() -> None:
    """Import every module of :mod:`neuro.commands`: each registers its commands on import."""
    package = __name__.rpartition(".")[0]
    folder = Path(__file__).parent
    for mod in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{package}.{mod.name}")


class HelpFormatter(argparse.HelpFormatter):
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


def build(parser: argparse.ArgumentParser, group: _Group) -> None:
    """Add ``group``'s commands to ``parser`` as sub-parsers; each command's parser is kept as ``args._parser``."""
    subs = parser.add_subparsers(dest="_cmd_" + str(id(group)), metavar="COMMAND")
    subs.required = True
    for name, child in sorted(group.children.items()):
        p = subs.add_parser(name, help=child.help, description=child.help, formatter_class=HelpFormatter)
        if isinstance(child, Command):
            for flags, kw in child.args:
                p.add_argument(*flags, **kw)
            p.set_defaults(_handler=child.handler, _parser=p)
        else:
            build(p, child)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="right" if c != columns[0] else "left")
    for r in rows:
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    Console(width=160).print(table)
