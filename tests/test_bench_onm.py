"""``neuro bench lif --workload open-neuromorphic`` at a toy size: records, limits, peers that cannot run."""

from __future__ import annotations

import json

import pytest
import torch

from neuro.backends import set_backend
from neuro.bench.lif_onm import implementations, run_onm_bench
from neuro.cli import main
from neuro.errors import ConfigError


@pytest.fixture
def reference_neurons():
    """The plumbing under test does not depend on the neuron kernel: skip compiling the fused one."""
    set_backend("torch")
    yield
    set_backend(None)


def test_open_neuromorphic_workload_json_has_one_record_per_size_and_dtype(capsys, reference_neurons):
    args = ["bench", "lif", "--workload", "open-neuromorphic", "--sizes", "96", "80", "--T", "8", "--B", "2",
            "--quick", "--only", "snntorch", "spikingjelly", "--json"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["workload"] == "open-neuromorphic"
    assert [(r["size"], r["dtype"], r["device"]) for r in res["records"]] == [(96, "float32", "cpu"),
                                                                              (80, "float32", "cpu")]
    f32 = res["records"][0]
    rows = {r["name"]: r for r in f32["rows"]}
    assert rows["neuro"]["spikes_equal"] and rows["neuro (dense GEMM)"]["spikes_equal"]
    assert rows["neuro (int8 split, forced)"]["spike_mismatch"] < 1e-3
    assert rows["neuro (gather-sum, forced)"]["spike_mismatch"] < 1e-3
    assert rows["snntorch"]["available"] and rows["snntorch"]["fwd_bwd_s"] > 0
    assert not rows["spikingjelly (cuda, triton)"]["available"] and rows["spikingjelly (cuda, triton)"]["reason"]
    assert "norse" not in rows  # --only
    lim = f32["limit"]
    assert lim["fwd_bwd_s"] == pytest.approx(lim["gemm_fwd_bwd_s"] + lim["lif_traffic_fwd_bwd_s"])
    assert lim["lif_bytes"] == 6 * 8 * 2 * 96 * 4 and lim["bandwidth_GBps"] > 0
    assert f32["ratio_to_limit"] == pytest.approx(rows["neuro"]["fwd_bwd_s"] / lim["fwd_bwd_s"])
    fastest = min((r for r in f32["rows"] if r["kind"] == "peer" and r["available"]), key=lambda r: r["fwd_bwd_s"])
    assert f32["fastest_peer"] == fastest["name"]
    assert f32["speedup_vs_fastest_peer"] == pytest.approx(fastest["fwd_bwd_s"] / rows["neuro"]["fwd_bwd_s"])
    bf16 = [i.name for i in implementations(torch.device("cpu"), torch.bfloat16, ("snntorch",))]
    assert bf16 == ["neuro", "neuro (dense GEMM)", "neuro (gather-sum, forced)", "neuro (int8 split, forced)",
                    "snntorch", "limit: Linear alone (MKL/oneDNN GEMM)"]  # every CPU path for 0/1 input is shown
    f64 = [i.name for i in implementations(torch.device("cpu"), torch.float64, ("snntorch",))]
    assert "neuro (int8 split, forced)" not in f64 and "neuro (gather-sum, forced)" in f64


def test_bad_options_raise_config_errors_naming_them():
    with pytest.raises(ConfigError, match="--density"):
        run_onm_bench(sizes=(64,), density=2.0)
    with pytest.raises(ConfigError, match="--dtype"):
        run_onm_bench(sizes=(64,), dtypes=("int8",))
    with pytest.raises(ConfigError, match="--sizes"):
        run_onm_bench(sizes=(0,))
