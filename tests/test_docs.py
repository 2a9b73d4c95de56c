"""The documentation: the mkdocs site builds with warnings as errors, and every snippet runs.

Every fenced ``python``, ``bash``/``sh``/``shell`` and ``console`` block (``$ `` lines) in README.md
and docs/*.md is executed, page by page, in document order: Python blocks of a page share one
namespace, and all blocks of a page run in one fresh temporary working directory (with
``examples/`` linked into it), the repository's ``neuro`` first on ``PYTHONPATH``, the venv's
``neuro`` and ``python`` first on ``PATH``, ``NEURO_DATA_DIR`` set to the real-data folder and
matplotlib's non-interactive backend.  Other fences (``text``, ``json``, ``yaml``, ...) are not run.

A block may be preceded by HTML comments (invisible on the rendered page), one directive each:

* ``<!-- snippet: quick OLD => NEW -->``: in the test run, replace the text ``OLD`` (which must
  occur in the block) with ``NEW``; used to shrink multi-minute runs (``--epochs 30 => --epochs 1``).
* ``<!-- snippet: requires lava -->`` / ``requires netx`` (lava-dl netx in the Lava environment) /
  ``requires cuda``: run only where that exists, else skipped with the reason.
* ``<!-- snippet: skip REASON -->``: never run (installs packages, reaches the internet, calls
  the test suite itself); the reason is required and every skip is listed in pytest's summary.

Run one page with ``pytest tests/test_docs.py -k neurons.md``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN_LANGS = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "shell": "shell",
             "console": "console"}
REQUIREMENTS = ("lava", "netx", "cuda")
MAX_SKIPS = 8  # skips are for what cannot run on any test machine, and must stay rare

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*snippet:\s*(?P<body>.*?)\s*-->\s*$")


class SnippetError(ValueError):
    """A snippet directive that is malformed or no longer matches its block."""


@dataclass
class Snippet:
    page: str
    line: int  # 1-based line of the block's first code line
    lang: str  # "python" or "shell"
    code: str
    skip: str | None = None
    requires: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _apply(body: str, snip: Snippet) -> None:
    """Apply one ``<!-- snippet: ... -->`` directive to ``snip``."""
    word, _, rest = body.partition(" ")
    rest = rest.strip()
    if word == "skip":
        if not rest:
            raise SnippetError(f"{snip.where}: 'snippet: skip' needs a reason")
        snip.skip = rest
    elif word == "requires":
        if rest not in REQUIREMENTS:
            raise SnippetError(f"{snip.where}: unknown requirement {rest!r}; known: {', '.join(REQUIREMENTS)}")
        snip.requires.append(rest)
    elif word == "quick":
        old, sep, new = rest.partition(" => ")
        if not sep or not old:
            raise SnippetError(f"{snip.where}: write 'snippet: quick OLD => NEW', got {body!r}")
        if old not in snip.code:
            raise SnippetError(f"{snip.where}: 'quick' expects {old!r} in the block, which no longer has it")
        snip.code = snip.code.replace(old, new)
    else:
        raise SnippetError(f"{snip.where}: unknown snippet directive {word!r}; use quick, requires or skip")


def parse_snippets(text: str, page: str) -> list[Snippet]:
    """The runnable fenced blocks of a markdown page, with their directives applied."""
    lines = text.splitlines()
    out: list[Snippet] = []
    pending: list[tuple[int, str]] = []  # directives waiting for their block
    i = 0
    while i < len(lines):
        d, m = _DIRECTIVE.match(lines[i]), _FENCE.match(lines[i])
        if d:
            pending.append((i + 1, d["body"]))
            i += 1
            continue
        if m is None:
            if pending and lines[i].strip():
                raise SnippetError(f"{page}:{pending[0][0]}: a snippet directive must come right before a code block")
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["lang"].lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        body = [ln[indent:] if not ln[:indent].strip() else ln.lstrip() for ln in lines[i + 1:j]]
        kind = RUN_LANGS.get(lang)
        if kind is None:
            if pending:
                raise SnippetError(f"{page}:{pending[0][0]}: directive before a {lang or 'plain'!r} block, "
                                   "which is never run")
        else:
            code = "\n".join(body) + "\n"
            if kind == "console":
                code = "".join(ln[2:] + "\n" for ln in body if ln.startswith("$ "))
                kind = "shell"
            snip = Snippet(page, i + 2, kind, code)
            for _, directive in pending:
                _apply(directive, snip)
            out.append(snip)
        pending = []
        i = j + 1
    if pending:
        raise SnippetError(f"{page}:{pending[0][0]}: a snippet directive with no code block after it")
    return out


def _all_snippets() -> dict[str, list[Snippet]]:
    return {str(p.relative_to(ROOT)): parse_snippets(p.read_text(), str(p.relative_to(ROOT))) for p in PAGES}


SNIPPETS = _all_snippets()
SKIPPED = [s for snips in SNIPPETS.values() for s in snips if s.skip]
RUN_PAGES = [page for page, snips in SNIPPETS.items() if any(not s.skip for s in snips)]


def _missing(requirement: str) -> str | None:
    """Why ``requirement`` is not met here, or ``None`` when it is."""
    if requirement == "cuda":
        import torch

        return None if torch.cuda.is_available() else "needs a CUDA GPU"
    from neuro.hardware.loihi.lava import lava_status, netx_status

    ok, why = netx_status() if requirement == "netx" else lava_status()
    return None if ok else f"needs the Lava environment{' with lava-dl netx' * (requirement == 'netx')} ({why})"


# ----------------------------------------------------------------------------- the runner
def run_page(spec_path: str) -> int:
    """Run a page's blocks (written by :func:`test_page_snippets` as JSON) in order; exit status 1 on failure."""
    spec = json.loads(Path(spec_path).read_text())
    namespace: dict = {"__name__": "__main__"}
    for s in spec["snippets"]:
        t0 = time.perf_counter()
        if s["lang"] == "python":
            try:
                exec(compile("\n" * (s["line"] - 1) + s["code"], s["page"], "exec"), namespace)
            except BaseException:
                print(f"FAILED {s['page']}:{s['line']} (python)\n{s['code']}\n{traceback.format_exc()}", flush=True)
                return 1
        else:
            r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", s["code"]], capture_output=True, text=True,
                               timeout=spec["timeout"])
            if r.returncode:
                print(f"FAILED {s['page']}:{s['line']} (shell, exit {r.returncode})\n{s['code']}\n"
                      f"--- stdout ---\n{r.stdout[-4000:]}\n--- stderr ---\n{r.stderr[-4000:]}", flush=True)
                return 1
        print(f"ok {s['page']}:{s['line']} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_snippets(page, tmp_path, shared_data):
    snips = [s for s in SNIPPETS[page] if not s.skip]
    runnable = [s for s in snips if not any(_missing(r) for r in s.requires)]
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    spec = tmp_path / "snippets.json"
    spec.write_text(json.dumps({"timeout": 600, "snippets": [s.__dict__ for s in runnable]}))
    env = dict(os.environ, NEURO_DATA_DIR=str(shared_data), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    r = subprocess.run([sys.executable, __file__, str(spec)], cwd=work, env=env, capture_output=True, text=True,
                       timeout=1200)
    print(r.stdout)
    assert r.returncode == 0, f"a snippet of {page} failed:\n{r.stdout[-8000:]}\n{r.stderr[-4000:]}"
    assert sum(ln.startswith("ok ") for ln in r.stdout.splitlines()) == len(runnable)
    unmet = [f"{s.where}: {'; '.join(filter(None, map(_missing, s.requires)))}" for s in snips if s not in runnable]
    if unmet:
        pytest.skip("ran all but: " + " | ".join(unmet))


@pytest.mark.parametrize("snippet", SKIPPED, ids=[s.where for s in SKIPPED])
def test_skipped_snippet(snippet):
    """Each snippet that is never run is reported here with its reason."""
    pytest.skip(f"{snippet.where}: {snippet.skip}")


def test_skips_are_rare():
    assert len(SKIPPED) <= MAX_SKIPS, "too many skipped snippets:\n" + "\n".join(
        f"{s.where}: {s.skip}" for s in SKIPPED)


def test_snippet_directives():
    page = "\n".join([
        "<!-- snippet: quick --epochs 30 => --epochs 1 -->",
        "<!-- snippet: requires lava -->",
        "```bash",
        "neuro train fsdd --epochs 30",
        "```",
        "```text",
        "neuro never-run",
        "```",
        "- in a list:",
        "  <!-- snippet: skip needs the internet -->",
        "  ```python",
        "  for x in range(2):",
        "      download(x)",
        "  ```",
        "```console",
        "$ neuro info",
        "neuro 0.1.0",
        "```",
    ])
    a, b, c = parse_snippets(page, "p.md")
    assert (a.code, a.requires, a.line, a.lang) == ("neuro train fsdd --epochs 1\n", ["lava"], 4, "shell")
    assert (b.skip, b.lang, b.code) == ("needs the internet", "python", "for x in range(2):\n    download(x)\n")
    assert (c.code, c.lang) == ("neuro info\n", "shell")
    for bad, msg in [("<!-- snippet: quick --epochs 5 => --epochs 1 -->\n```bash\nneuro x --epochs 30\n```",
                      "no longer has it"),
                     ("<!-- snippet: skip -->\n```bash\nx\n```", "needs a reason"),
                     ("<!-- snippet: requires tpu -->\n```bash\nx\n```", "unknown requirement"),
                     ("<!-- snippet: maybe -->\n```bash\nx\n```", "unknown snippet directive"),
                     ("<!-- snippet: skip slow -->\ntext\n```bash\nx\n```", "right before a code block"),
                     ("<!-- snippet: skip slow -->\n```text\nx\n```", "never run")]:
        with pytest.raises(SnippetError, match=msg):
            parse_snippets(bad, "p.md")


def test_cli_reference_covers_every_command():
    """docs/cli.md has a section per command that names each of its options."""
    from neuro.commands.registry import commands

    text = (ROOT / "docs" / "cli.md").read_text()
    sections = dict(re.findall(r"^### `neuro ([^`]+)`\n(.*?)(?=^#|\Z)", text, re.S | re.M))
    missing = []
    for cmd in commands():
        path = " ".join(cmd.path)
        if path not in sections:
            missing.append(f"neuro {path}")
            continue
        for flags, _ in cmd.args:
            if flags[0].startswith("-") and flags[0] not in sections[path]:
                missing.append(f"neuro {path} {flags[0]}")
    assert not missing, "docs/cli.md does not document: " + ", ".join(sorted(missing))


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text()
    links = [u.split("#")[0] for u in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in u]
    assert links, "the README links to the docs"
    missing = [u for u in links if u and not (ROOT / u).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
    assert len(text.splitlines()) <= 160, "README.md is the front page; details belong in docs/"


def test_site_builds_strict(tmp_path):
    """``mkdocs build --strict``: broken links, missing nav pages and API objects fail the build."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner about a future mkdocs
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-8000:]
    assert (tmp_path / "site" / "api" / "layers" / "index.html").exists()
    assert "SeqLinear" in (tmp_path / "site" / "api" / "layers" / "index.html").read_text()


if __name__ == "__main__":
    sys.exit(run_page(sys.argv[1]))
