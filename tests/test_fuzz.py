"""Bounded fuzz test of the file readers (see fuzz_harness.py for the mutants and the invariants).

Every mutant of every fixture must end in a neuro error naming the file or in output that keeps
its format's invariants.  The outcome table is printed (run with ``-s``) and, when the environment
variable ``NEURO_FUZZ_REPORT`` names a path, written there as JSON.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from fuzz_harness import KINDS, format_table, mutants, resolve, run_jobs, table

from neuro.config import find_shared_data


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory):
    """All mutants of all available fixtures, read in one batch of child processes."""
    folder = tmp_path_factory.mktemp("fuzz")
    root = find_shared_data()
    jobs, missing = [], {}
    for kind in KINDS:
        if ":" in kind.fixture:
            src = resolve(kind.fixture)(folder)
        else:
            src = root / kind.fixture if root is not None else None
            if src is None or not src.is_file():
                missing[kind.name] = f"fixture {kind.fixture} not found: set NEURO_DATA_DIR to the shared data folder"
                continue
        for m in mutants(kind, src, folder):
            jobs.append({**m, "id": f"{len(jobs)}", "reader": kind.reader, "check": kind.check, "ref": str(src)})
    t0 = time.monotonic()
    results = run_jobs(jobs)
    rows = table(jobs, results)
    elapsed = time.monotonic() - t0
    print(f"\nfuzz outcomes ({len(jobs)} mutants, {elapsed:.1f} s):\n{format_table(rows)}")
    report = os.environ.get("NEURO_FUZZ_REPORT")
    if report:
        detail = [{**{k: j[k] for k in ("kind", "op", "detail", "path")}, "outcome": results[j["id"]]["outcome"],
                   "message": results[j["id"]].get("detail", "")} for j in jobs]
        with open(report, "w") as f:
            json.dump({"rows": rows, "seconds": round(elapsed, 1), "skipped": missing, "mutants": detail}, f, indent=1)
    return {"jobs": jobs, "results": results, "rows": {r["kind"]: r for r in rows}, "missing": missing}


@pytest.mark.parametrize("name", [k.name for k in KINDS])
def test_every_mutant_ends_in_a_clean_error_or_valid_output(fuzz_run, name):
    if name in fuzz_run["missing"]:
        pytest.skip(fuzz_run["missing"][name])
    row = fuzz_run["rows"][name]
    other = [(os.path.basename(j["path"]), j["detail"], fuzz_run["results"][j["id"]]["detail"])
             for j in fuzz_run["jobs"] if j["kind"] == name and fuzz_run["results"][j["id"]]["outcome"] == "other"]
    assert other == []
    # the mutants exercise both paths: some are refused, some (e.g. aligned truncations, renamed copies) still read
    assert row["mutants"] >= 40 and row["clean"] > 0 and row["valid"] > 0


def test_the_harness_catches_misbehaving_readers(tmp_path):
    """Hangs (interruptible or not), crashes, memory blow-ups, foreign exceptions, errors that do not name
    the file and invalid output all count as 'other'; a named neuro error is 'clean'."""
    names = ["named", "spin", "abort", "stuck", "greedy", "typeerror", "unnamed", "outside", "valid"]
    ref = tmp_path / "valid.bin"
    jobs = []
    for k, n in enumerate(names):
        (tmp_path / f"{n}.bin").write_bytes(b"x")
        jobs.append({"id": str(k), "kind": "selftest", "op": "flip-body", "path": str(tmp_path / f"{n}.bin"),
                     "reader": "fuzz_harness:misbehaving_reader", "check": "fuzz_harness:check_events",
                     "ref": str(ref)})
    res = run_jobs(jobs, timeout=1.0, slack=2.0)
    got = {n: res[str(k)]["outcome"] for k, n in enumerate(names)}
    assert got == {"named": "clean", "spin": "other", "abort": "other", "stuck": "other", "greedy": "other",
                   "typeerror": "other", "unnamed": "other", "outside": "other", "valid": "valid"}
    assert "timeout" in res["1"]["detail"] and "hung" in res["3"]["detail"] and "killed" in res["2"]["detail"]
    assert "x outside" in res["7"]["detail"]
