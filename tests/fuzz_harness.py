"""Bounded fuzzing of neuro's file readers (used by test_fuzz.py; run as a script it is the child).

For every file kind in :data:`KINDS`, a fixed-seed set of mutants of one real file (truncations,
bit flips in header and body, random bytes behind the right magic, a wrong extension, huge
declared sizes) is read in a child process limited in time (per file) and address space.  Each
mutant must end in one of neuro's own errors naming the file (``clean``) or in output that
satisfies the kind's invariants (``valid``); anything else (another exception, an invariant
broken, a hang, a crash, running out of memory) is ``other``.

Add a file kind with one entry in :data:`KINDS`: its fixture (a path under the shared data folder,
or ``"module:function"`` that writes one into a folder and returns its path), the reader and the
invariant checker (``"module:function"`` each).  A checker gets the reader's output, the output
for the unmutated file and the mutation (a dict with ``op``) and returns a problem or ``None``.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MEMORY_LIMIT = 2 << 30  # RLIMIT_AS of the child, bytes
FILE_TIMEOUT = 5.0  # seconds per file (alarm in the child; the parent kills a child silent for longer)
STARTUP_TIMEOUT = 120.0  # seconds for the child's imports on a busy machine


@dataclass(frozen=True)
class Kind:
    """One file kind: where its fixture comes from, how to read it, which invariants its output keeps."""

    name: str
    fixture: str  # path relative to the shared data folder, or "module:function"(folder) -> path
    reader: str  # "module:function"(path) -> output
    check: str  # "module:function"(output, reference, mutation) -> problem or None
    magic: int | str = 0  # bytes kept by "random bytes behind the magic"; "%" = the Prophesee '%' header
    head: int = 256  # bytes counted as header for header bit flips and huge sizes
    size_fields: str | None = None  # optional "module:function"(data) -> offsets of 4-byte declared sizes


KINDS = [
    Kind("nmnist", "fixtures/sample_nmnist.bin", "neuro.datasets:read_events", "fuzz_harness:check_events", 0, 40),
    Kind("aedat4", "fixtures/sample.aedat4", "neuro.datasets:read_events", "fuzz_harness:check_events", 14, 2048,
         "fuzz_harness:aedat4_sizes"),
    Kind("dat", "fixtures/sample_ncars.dat", "neuro.datasets:read_events", "fuzz_harness:check_events", "%", 200),
    Kind("evt2", "fixtures/evt2_sample.raw", "neuro.datasets:read_events", "fuzz_harness:check_events", "%", 200),
    Kind("evt3", "fixtures/evt3_sample.raw", "neuro.datasets:read_events", "fuzz_harness:check_events", "%", 300),
    Kind("aedat2", "fuzz_harness:make_aedat2", "neuro.datasets:read_events", "fuzz_harness:check_events", 12, 260),
    Kind("aedat3", "fuzz_harness:make_aedat3", "neuro.datasets:read_events", "fuzz_harness:check_events", 12, 160,
         "fuzz_harness:aedat3_sizes"),
    Kind("shd", "fuzz_harness:make_shd", "fuzz_harness:read_shd_all", "fuzz_harness:check_events", 8, 2048,
         "fuzz_harness:shd_sizes"),
    Kind("wav", "fsdd/recordings/0_george_0.wav", "neuro.datasets:read_wav", "fuzz_harness:check_wav", 12, 44),
    Kind("idx", "fuzz_harness:make_idx", "neuro.datasets:read_idx", "fuzz_harness:check_idx", 4, 16),
    Kind("nir", "fuzz_harness:make_nir", "fuzz_harness:read_nir_model", "fuzz_harness:check_nir", 8, 2048,
         "fuzz_harness:shd_sizes"),
    Kind("net", "fuzz_harness:make_net", "fuzz_harness:read_net", "fuzz_harness:check_net", 8, 2048,
         "fuzz_harness:shd_sizes"),
]
# the HDF5 readers parse in a forked child with its own time limit; keep it inside the per-file alarm
HDF5_TIMEOUT = 2.0


def resolve(spec: str):
    """The object named by ``"module:attribute"``."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


# ----------------------------------------------------------------------------- fixtures, readers, sizes
def make_shd(folder: Path) -> Path:
    """A small SHD file written by the project's ``write_shd`` (needs no shared data)."""
    from neuro.datasets import make_events, write_shd

    g = np.random.default_rng(0)
    samples = [make_events(t=np.sort(g.integers(0, 1_000_000, n)), x=g.integers(0, 700, n)) for n in (40, 90, 3, 60)]
    path = Path(folder) / "shd_fuzz.h5"
    write_shd(path, samples, [1, 5, 0, 19], [f"w{k}" for k in range(20)], speakers=[0, 1, 0, 2])
    return path


def _camera_events(n: int, W: int, H: int, span: int):
    from neuro.datasets import make_events

    g = np.random.default_rng(1)
    return make_events(np.sort(g.integers(0, span, n)), g.integers(0, W, n), g.integers(0, 2, n), g.integers(0, H, n))


def make_aedat2(folder: Path) -> Path:
    """A small AEDAT 2.0 DVS128 file written by the project's ``write_aedat2``."""
    from neuro.datasets import write_aedat2

    path = Path(folder) / "dvs128.aedat"
    write_aedat2(path, _camera_events(300, 128, 128, 1 << 30))
    return path


def make_aedat3(folder: Path) -> Path:
    """A small AEDAT 3.1 file of several polarity packets written by the project's ``write_aedat3``."""
    from neuro.datasets import write_aedat3

    path = Path(folder) / "gesture.aedat"
    write_aedat3(path, _camera_events(400, 128, 128, 1 << 30), packet_size=100)
    return path


def aedat3_sizes(data: bytes) -> list[int]:
    """Offsets of the event size, capacity and number fields of the first packets of an AEDAT 3 file."""
    out, pos = [], data.find(b"#!END-HEADER\r\n") + 14
    while len(out) < 9 and pos + 28 <= len(data):
        out += [pos + 4, pos + 20, pos + 24]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 28 + size * int.from_bytes(data[pos + 20 : pos + 24], "little")
    return out


def make_idx(folder: Path) -> Path:
    """A small uncompressed IDX file (3 images of 4x5 pixels) in the MNIST layout."""
    path = Path(folder) / "images-idx3-ubyte"
    data = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    path.write_bytes(bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in data.shape) + data.tobytes())
    return path


def _delay_model():
    """A small delay model (fan-out, delays, readout horizon): the richest graph neuro exports."""
    import torch

    from neuro.models.delay_snn import DelaySNN

    torch.manual_seed(0)
    return DelaySNN(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4, input_length=10).eval()


def make_nir(folder: Path) -> Path:
    """A small ``.nir`` graph written by the project's exporter."""
    from neuro.export import write_nir

    path = Path(folder) / "delay.nir"
    write_nir(_delay_model(), path, dt=1e-3)
    return path


def make_net(folder: Path) -> Path:
    """A small ``.net`` Loihi deployment file written by the project's exporter."""
    from neuro.hardware.loihi import export_loihi

    path = Path(folder) / "delay.net"
    export_loihi(_delay_model(), path)
    return path


def read_nir_model(path):
    """A ``.nir`` graph through the validated reader, built into a module by ``from_nir`` (errors name the file)."""
    import neuro.hdf5
    from neuro.export import from_nir, read_nir

    neuro.hdf5.READ_TIMEOUT = HDF5_TIMEOUT
    return read_nir(path), from_nir(path)


def read_net(path):
    """A ``.net`` Loihi network through the validated reader."""
    import neuro.hdf5
    from neuro.hardware.loihi import load_loihi

    neuro.hdf5.READ_TIMEOUT = HDF5_TIMEOUT
    return load_loihi(path)


def read_shd_all(path):
    """Every sample of an SHD file, as event streams."""
    from neuro.datasets import EventStream, ShdFile

    f = ShdFile(path)
    return [EventStream(f.events(i), (700, 1, 1), "shd_hdf5", str(path)) for i in range(len(f))]


def aedat4_sizes(data: bytes) -> list[int]:
    """Offsets of the header length and of the first packets' lengths in an AEDAT4 file."""
    out, pos = [14], 18 + int.from_bytes(data[14:18], "little")
    while len(out) < 4 and pos + 8 <= len(data):
        out.append(pos + 4)
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
    return out


def shd_sizes(data: bytes) -> list[int]:
    """Offsets of the first ragged lengths and heap object sizes in an HDF5 file (found by their layout)."""
    out, at = [], data.find(b"GCOL")
    if at >= 0:
        out += [at + 8, at + 16 + 8, at + 16 + 8 + 4]  # collection size, first object's size (low, high word)
    return out


def misbehaving_reader(path):
    """A reader that fails in the way its file's name says (to test the harness itself)."""
    from neuro.datasets import EventStream, make_events
    from neuro.errors import DataError

    how = Path(path).stem
    if how == "spin":
        while True:
            pass
    if how == "stuck":  # deaf to the alarm, like a loop inside native code
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(120)
    if how == "abort":
        os.abort()
    if how == "greedy":
        return bytearray(MEMORY_LIMIT + (1 << 30))
    if how == "typeerror":
        raise TypeError("'NoneType' object is not subscriptable")
    if how == "unnamed":
        raise DataError("corrupt file")
    if how == "named":
        raise DataError(f"{path}: corrupt file")
    x = 40 if how == "outside" else 3
    return EventStream(make_events([0, 5], [1, x], [0, 1], [2, 2]), (34, 34, 2), "nmnist", str(path))


# ----------------------------------------------------------------------------- invariants
# formats whose readers guarantee time order
MONOTONIC = {"aedat1", "aedat2", "aedat3", "aedat4", "prophesee_dat", "shd_hdf5"}


def check_events(out, ref, mutation: dict) -> str | None:
    """Event streams: sensor size positive, events inside it, polarity 0/1, t >= 0, time order where the
    format guarantees it, and a truncated file's events a prefix of the original's."""
    from neuro.datasets import EventStream

    outs, refs = (out, ref) if isinstance(out, list) else ([out], [ref])
    if mutation["op"] == "truncate" and len(outs) > len(refs):
        return f"{len(outs)} samples from a truncation of a file with {len(refs)}"
    for k, s in enumerate(outs):
        if not isinstance(s, EventStream):
            return f"returned {type(s).__name__}, not an EventStream"
        if len(s.sensor_size) != 3 or not all(isinstance(v, int) and v > 0 for v in s.sensor_size):
            return f"sensor size {s.sensor_size}"
        W, H, P = s.sensor_size
        e = s.events
        if len(e) == 0:
            continue
        if e["x"].min() < 0 or e["x"].max() >= W:
            return f"x outside [0, {W})"
        if "y" in e.dtype.names and (e["y"].min() < 0 or e["y"].max() >= H):
            return f"y outside [0, {H})"
        if e["p"].min() < 0 or e["p"].max() > min(P - 1, 1):
            return "polarity outside {0, 1}"
        if e["t"].min() < 0:
            return "negative timestamp"
        if s.format in MONOTONIC and np.any(np.diff(e["t"]) < 0):
            return "timestamps decrease"
        if mutation["op"] == "truncate":
            r = refs[k].events
            if s.format != refs[k].format or len(e) > len(r) or any(
                    not np.array_equal(e[f], r[f][: len(e)]) for f in e.dtype.names):
                return f"sample {k}: events are not a prefix of the original's"
    return None


def check_wav(out, ref, mutation: dict) -> str | None:
    """WAV: mono float32 finite samples and a positive rate."""
    wave, rate = out
    if not (isinstance(wave, np.ndarray) and wave.dtype == np.float32 and wave.ndim == 1):
        return "samples are not a 1-D float32 array"
    if not np.isfinite(wave).all():
        return "samples are not finite"
    return None if int(rate) > 0 else f"rate {rate}"


def check_idx(out, ref, mutation: dict) -> str | None:
    """IDX: an array whose byte count is what the file holds after its header."""
    if not isinstance(out, np.ndarray):
        return f"returned {type(out).__name__}"
    if mutation["op"] == "truncate" and out.nbytes >= ref.nbytes:
        return "a truncated file gave as many values as the original"
    return None


def check_nir(out, ref, mutation: dict) -> str | None:
    """NIR: a valid graph whose module takes its declared input shape and gives finite output."""
    import nir
    import torch

    from neuro.export.nir_import import graph_input_shape, validate_graph

    graph, model = out
    if not isinstance(graph, nir.NIRGraph) or not isinstance(model, torch.nn.Module):
        return f"returned {type(graph).__name__}, {type(model).__name__}"
    validate_graph(graph)  # what the reader returns keeps the invariants it checks
    with torch.no_grad():
        y = model(torch.zeros((3, 1, *graph_input_shape(graph))))
    return None if torch.isfinite(y).all() else "non-finite output on zero input"


def check_net(out, ref, mutation: dict) -> str | None:
    """Loihi: a network that validates and runs a few steps of zero input in the simulator."""
    from neuro.hardware.loihi import LoihiNetwork, simulate

    if not isinstance(out, LoihiNetwork):
        return f"returned {type(out).__name__}"
    out.validate()
    r = simulate(out, np.zeros((3, 1, out.n_in), np.int64))
    return None if len(r.spikes) == len(out.layers) else "the simulator lost a layer"


# ----------------------------------------------------------------------------- mutants
def mutants(kind: Kind, src: Path, folder: Path, seed: int = 0) -> list[dict]:
    """Write the fixed-seed mutants of ``src`` into ``folder``; one dict (path, op, detail) per mutant."""
    data = src.read_bytes()
    n = len(data)
    g = np.random.default_rng([seed, sum(kind.name.encode())])
    head = min(kind.head, n)
    if kind.magic == "%":
        magic, pos = 0, 0
        while data[pos : pos + 1] == b"%" and data.find(b"\n", pos) >= 0:
            pos = data.find(b"\n", pos) + 1
        magic = pos
    else:
        magic = int(kind.magic)
    out: list[dict] = []

    def add(op: str, detail: str, blob: bytes, suffix: str = src.suffix) -> None:
        p = folder / f"{kind.name}-{len(out):03d}-{op}{suffix}"
        p.write_bytes(blob)
        out.append({"path": str(p), "op": op, "detail": detail, "kind": kind.name})

    cuts = {1, 3, 8, head // 2, head, head + 1, n // 10, n // 4, n // 2, 3 * n // 4, n - 1, n - 2, n - 5, n - 8}
    cuts |= {int(c) for c in g.integers(1, n, 4)}
    for c in sorted(c for c in cuts if 0 <= c < n):
        add("truncate", f"first {c} bytes", data[:c])
    for where, lo, hi in (("head", 0, head), ("body", head, n)):
        if hi <= lo:
            continue
        for _ in range(8):
            b = bytearray(data)
            for pos in g.integers(lo, hi, int(g.integers(1, 4))):
                b[pos] ^= 1 << int(g.integers(0, 8))
            add(f"flip-{where}", "bits flipped", bytes(b))
    for _ in range(2):
        b = bytearray(data)
        pos = int(g.integers(head, max(head + 1, n - 16)))
        b[pos : pos + 16] = g.bytes(16)
        add("scribble", f"16 random bytes at {pos}", bytes(b))
    for size in (64, 4096, 65536):
        add("random-after-magic", f"{size} random bytes after {magic} magic bytes", data[:magic] + g.bytes(size))
    for suffix in (".bin", ".raw", ".dat", ".aedat4", ".h5", ".txt"):
        if suffix != src.suffix:
            add("wrong-extension", f"as {suffix}", data, suffix)
    if kind.magic == "%":  # text headers declare sizes in words
        first = data.find(b"\n") + 1
        for line in (b"% geometry 2147483647x2147483647\n", b"% Width -1\n% Height 99999999999999999999\n",
                     b"% format EVT3;width=0;height=480\n"):
            add("huge-size", line.decode().strip(), data[:first] + line + data[first:])
    fields = resolve(kind.size_fields)(data) if kind.size_fields else []
    fields += [4 * int(k) for k in g.integers(0, max(1, head // 4), 4)]
    for off in fields:
        for value in (0x7FFFFFFF, 0xFFFFFFF0):
            if off + 4 <= n:
                b = bytearray(data)
                b[off : off + 4] = value.to_bytes(4, "little")
                add("huge-size", f"0x{value:x} at byte {off}", bytes(b))
    return out


# ----------------------------------------------------------------------------- child
class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that readers' ``except Exception`` cannot swallow it."""


def _alarm(signum, frame):
    raise _Timeout()


def child() -> int:
    """Read the jobs given on stdin, one at a time under an alarm; report each outcome as a JSON line."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    spec = json.load(sys.stdin)
    from neuro.errors import NeuroError

    signal.signal(signal.SIGALRM, _alarm)
    refs: dict[str, object] = {}

    def say(**kw) -> None:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()

    for job in spec["jobs"]:
        say(start=job["id"])
        reader, check = resolve(job["reader"]), resolve(job["check"])
        res: dict = {"id": job["id"]}
        try:
            if job["ref"] not in refs:
                refs[job["ref"]] = reader(job["ref"])
            signal.setitimer(signal.ITIMER_REAL, spec["timeout"])
            try:
                out = reader(job["path"])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            problem = check(out, refs[job["ref"]], job)
            res.update(outcome="valid" if problem is None else "other", detail=problem or "")
        except _Timeout:
            res.update(outcome="other", detail=f"timeout after {spec['timeout']} s")
        except NeuroError as e:
            named = Path(job["path"]).name in str(e)
            res.update(outcome="clean" if named else "other",
                       detail=("" if named else "error does not name the file: ") + f"{type(e).__name__}: {e}"[:300])
        except Exception as e:
            res.update(outcome="other", detail=f"{type(e).__name__}: {e}"[:300])
        except BaseException as e:  # a Rust panic from a native reader, or worse
            if isinstance(e, KeyboardInterrupt):
                raise
            res.update(outcome="other", detail=f"{type(e).__module__}.{type(e).__name__}: {e}"[:300])
        say(**res)
    return 0


# ----------------------------------------------------------------------------- parent
def _child_env() -> dict:
    import neuro

    env = dict(os.environ)
    root = str(Path(neuro.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run_child(jobs: list[dict], timeout: float, slack: float) -> tuple[dict, str | None, str]:
    """Run jobs in one child until it ends or stalls: (results, id of the job it died or hung on, stderr tail)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=_child_env())
        proc.stdin.write(json.dumps({"timeout": timeout, "jobs": jobs}).encode())
        proc.stdin.close()
        results: dict = {}
        current, buf = None, b""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        stalled = False
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                stalled = True
                proc.kill()
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                msg = json.loads(line)
                if "start" in msg:
                    current = msg["start"]
                    deadline = time.monotonic() + timeout + slack
                else:
                    results[msg["id"]] = msg
                    current = None
        proc.wait()
        err.seek(0)
        tail = err.read()[-600:].decode("latin-1")
        if stalled and current is not None:
            results[current] = {"id": current, "outcome": "other", "detail": f"hung (no answer in {timeout + slack} s)"}
            current = None
        elif current is not None:
            tail = f"child ended with {proc.returncode}: {tail}"
        return results, current, tail


def run_jobs(jobs: list[dict], timeout: float = FILE_TIMEOUT, slack: float = 10.0) -> dict:
    """Outcomes of all jobs (``id`` -> dict with ``outcome`` and ``detail``).

    Each file gets ``timeout`` seconds (the child's alarm); a child silent for ``timeout + slack``
    seconds (stuck in native code that the alarm cannot interrupt) is killed.  A job that kills its
    child is re-run alone to classify it; the others continue in a fresh child.
    """
    results: dict = {}
    pending = list(jobs)
    while pending:
        got, died, tail = _run_child(pending, timeout, slack)
        results.update(got)
        if died is not None:
            job = next(j for j in pending if j["id"] == died)
            alone, died_alone, tail_alone = _run_child([job], timeout, slack) if len(pending) > 1 else ({}, died, tail)
            results[died] = alone.get(died) or {"id": died, "outcome": "other",
                                                "detail": f"killed the reader process ({tail_alone.strip()[-300:]})"}
        pending = [j for j in pending if j["id"] not in results]
        if not got and died is None and pending:  # the child never started a job: report, do not loop
            for j in pending:
                results[j["id"]] = {"id": j["id"], "outcome": "other", "detail": f"child failed: {tail[-300:]}"}
            pending = []
    return results


def table(jobs: list[dict], results: dict) -> list[dict]:
    """Per-kind counts: mutants, clean errors, valid outputs, other."""
    rows: dict[str, dict] = {}
    for j in jobs:
        r = rows.setdefault(j["kind"], {"kind": j["kind"], "mutants": 0, "clean": 0, "valid": 0, "other": 0})
        r["mutants"] += 1
        r[results[j["id"]]["outcome"]] += 1
    return list(rows.values())


def format_table(rows: list[dict]) -> str:
    lines = [f"{'format':8s} {'mutants':>8s} {'clean errors':>13s} {'valid outputs':>14s} {'other':>6s}"]
    lines += [f"{r['kind']:8s} {r['mutants']:8d} {r['clean']:13d} {r['valid']:14d} {r['other']:6d}" for r in rows]
    tot = {k: sum(r[k] for r in rows) for k in ("mutants", "clean", "valid", "other")}
    lines.append(f"{'total':8s} {tot['mutants']:8d} {tot['clean']:13d} {tot['valid']:14d} {tot['other']:6d}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(child())
