"""Bounded mutation test of the two interchange readers: truncations, bit flips and overwritten
bytes of a real exported ``.nir`` graph and ``.net`` Loihi network (fixed seed), each read by
``neuro.export.nir_import.read_nir`` / ``neuro.hardware.loihi.load_loihi`` in a subprocess with a time limit.
Every mutant must end in neuro's own error or in a valid result that runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neuro.errors import DataError
from neuro.export import from_nir, to_nir
from neuro.hardware.loihi import export_loihi
from neuro.layers import Recurrent, SeqLinear
from neuro.models.delay_snn import DelaySNN
from neuro.neurons import LI, LIF

READER = r"""
import json, sys
import numpy as np, torch
from neuro.errors import NeuroError
from neuro.export.nir_import import from_nir, graph_input_shape, read_nir
from neuro.hardware.loihi import load_loihi, simulate

def check(kind, path):
    if kind == "nir":
        g = read_nir(path)
        x = torch.zeros((3, 1, *graph_input_shape(g)))
        with torch.no_grad():
            y = from_nir(g)(x)
        assert torch.isfinite(y).all(), "non-finite output"
    else:
        net = load_loihi(path)
        net.validate()
        simulate(net, np.zeros((3, 1, net.n_in), np.int64))

for kind, path in json.load(open(sys.argv[1])):
    try:
        check(kind, path)
        outcome = "valid"
    except NeuroError as e:
        outcome = "error"
    except BaseException as e:
        outcome = f"other {type(e).__name__}: {str(e)[:200]}"
    print(json.dumps([path, outcome]), flush=True)
"""


def _sources(tmp_path):
    torch.manual_seed(0)
    delay = DelaySNN(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4, input_length=10).eval()
    rec = nn.Sequential(Recurrent(6, 5, LIF(beta=0.8, decay_input=False)), SeqLinear(5, 3), LI(tau=2.0)).eval()
    nir.write(tmp_path / "delay.nir", to_nir(delay, dt=1e-3))
    nir.write(tmp_path / "rec.nir", to_nir(rec, dt=1e-3))
    export_loihi(delay, tmp_path / "delay.net")
    export_loihi(rec, tmp_path / "rec.net")
    return [("nir", tmp_path / "delay.nir"), ("nir", tmp_path / "rec.nir"), ("loihi", tmp_path / "delay.net"),
            ("loihi", tmp_path / "rec.net")]


def _mutants(data: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    n = len(data)
    out = [(f"trunc{k}", data[:k]) for k in sorted({0, 8, 512, n // 2, n - 64, n - 1})]
    for j in range(10):  # single bit flips: half in the first 4 KiB (superblock and object headers)
        pos = int(rng.integers(0, min(n, 4096))) if j % 2 == 0 else int(rng.integers(0, n))
        b = bytearray(data)
        b[pos] ^= 1 << int(rng.integers(0, 8))
        out.append((f"flip{j}@{pos}", bytes(b)))
    for j in range(4):  # a 16-byte block overwritten with random bytes
        pos = int(rng.integers(0, n - 16))
        b = bytearray(data)
        b[pos:pos + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        out.append((f"block{j}@{pos}", bytes(b)))
    out.append(("magic", data[:8] + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()))  # signature + noise
    return out


def test_mutated_nir_and_net_files_end_in_neuro_errors_or_valid_results(tmp_path):
    rng = np.random.default_rng(2024)
    jobs = []
    sources = _sources(tmp_path)
    for kind, src in sources:
        for name, content in _mutants(src.read_bytes(), rng):
            path = tmp_path / f"{src.stem}-{name}{src.suffix}"
            path.write_bytes(content)
            jobs.append((kind, str(path)))
        other = "loihi" if kind == "nir" else "nir"  # the right bytes under the wrong extension
        jobs.append((other, str(src)))
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    r = subprocess.run([sys.executable, "-c", READER, str(tmp_path / "jobs.json")], capture_output=True, text=True,
                       timeout=240)
    results = dict(tuple(json.loads(line)) for line in r.stdout.splitlines())
    assert r.returncode == 0 and len(results) == len(jobs), (
        f"the reader died after {len(results)} of {len(jobs)} mutants (the next one: "
        f"{jobs[len(results)] if len(results) < len(jobs) else '-'}):\n{r.stderr[-2000:]}")
    table = Counter(o if o in ("error", "valid") else "other" for o in results.values())
    bad = {p: o for p, o in results.items() if o not in ("error", "valid")}
    assert not bad, f"{table}: {bad}"
    # a truncated file and the right bytes under the other format's reader are always errors
    assert all(o == "error" for p, o in results.items() if "-trunc" in p or p.endswith(("delay.nir", "rec.nir",
                                                                                          "delay.net", "rec.net")))
    print(f"\n{len(jobs)} mutants: {table['error']} clean errors, {table['valid']} valid, 0 other")


def _gcol_objects(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the objects in the file's first global heap collection (HDF5 spec III.E)."""
    import struct

    g = data.index(b"GCOL")
    end = g + struct.unpack_from("<Q", data, g + 8)[0]
    pos, out = g + 16, []
    while pos + 16 <= end:
        index, _, _, size = struct.unpack_from("<HHIQ", data, pos)
        if index == 0:  # free space: the rest of the collection
            break
        out.append((pos, size))
        pos += 16 + (size + 7) // 8 * 8
    return out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the time limit needs fork")
def test_a_file_that_hangs_the_hdf5_library_ends_in_a_data_error(tmp_path, monkeypatch):
    """A string object in the global heap that claims 64 bytes more than it has makes HDF5 loop forever."""
    import struct

    import neuro.hdf5 as hdf5

    nir.write(tmp_path / "g.nir", to_nir(DelaySNN(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4), dt=1e-3))
    data = bytearray((tmp_path / "g.nir").read_bytes())
    pos, size = _gcol_objects(bytes(data))[-1]
    struct.pack_into("<Q", data, pos + 8, size + 64)
    (tmp_path / "hang.nir").write_bytes(bytes(data))
    monkeypatch.setattr(hdf5, "READ_TIMEOUT", 2.0)
    with pytest.raises(DataError, match=r"hang\.nir: reading it did not finish within 2 s"):
        from_nir(tmp_path / "hang.nir")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the isolation needs fork")
def test_a_crash_while_parsing_ends_in_a_data_error(tmp_path, monkeypatch):
    import signal

    import neuro.hdf5 as hdf5

    nir.write(tmp_path / "g.nir", to_nir(nn.Sequential(SeqLinear(2, 2), LI(tau=2.0)), dt=1e-3))
    monkeypatch.setattr(hdf5, "_read_tree", lambda p, what: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(DataError, match=r"g\.nir: the HDF5 library failed reading it"):
        from_nir(tmp_path / "g.nir")
