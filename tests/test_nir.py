"""NIR export/import: round trips through files, and the real snnTorch importer/exporter."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neuro import IF, LI, LIF, CubaLIF
from neuro.errors import ConfigError
from neuro.export import from_nir, to_nir
from neuro.layers import Flatten, SeqBatchNorm, SeqConv2d, SeqLinear, SeqSumPool2d
from neuro.models.delay_snn import DelaySNN
from neuro.neurons import CubaLI

DT = 1e-4  # snnTorch's importer assumes this step


def _roundtrip(model, x, tmp_path, **kw):
    model.eval()
    g = to_nir(model, dt=DT, **kw)
    nir.write(tmp_path / "m.nir", g)
    back = from_nir(nir.read(tmp_path / "m.nir"))  # type-checked read, dt from metadata
    with torch.no_grad():
        return model(x), back(x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Sequential(SeqLinear(6, 8), LIF(tau=2.0), SeqLinear(8, 3), LI(tau=4.0)),
        lambda: nn.Sequential(SeqLinear(6, 8, bias=False), LIF(beta=0.8, decay_input=False, v_reset=-0.2),
                              SeqLinear(8, 3), LI(beta=0.7, decay_input=False)),
        lambda: nn.Sequential(SeqLinear(6, 8), CubaLIF(tau_syn=3.0, tau_mem=2.0), SeqLinear(8, 3), IF()),
        lambda: nn.Sequential(SeqLinear(6, 8), SeqBatchNorm(8), LIF(tau=2.0), SeqLinear(8, 3), LI(tau=2.0)),
        lambda: nn.Sequential(SeqLinear(6, 8), CubaLIF(tau_syn=2.0, tau_mem=3.0), SeqLinear(8, 3),
                              CubaLI(tau_syn=3.0, tau_mem=2.0)),
    ],
)
def test_roundtrip_identical(make, tmp_path):
    torch.manual_seed(0)
    m = make()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm1d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    x = torch.rand(40, 3, 6) * 3
    a, b = _roundtrip(m, x, tmp_path)
    assert a.abs().sum() > 0
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_roundtrip_conv_pool_flatten(tmp_path):
    torch.manual_seed(0)
    m = nn.Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(tau=2.0), SeqSumPool2d(2), Flatten(), SeqLinear(4 * 4 * 4, 5),
                      LI(tau=2.0))
    x = (torch.rand(10, 2, 2, 8, 8) < 0.3).float()
    a, b = _roundtrip(m, x, tmp_path, input_shape=(2, 8, 8))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    g = nir.read(tmp_path / "m.nir")
    assert {type(n).__name__ for n in g.nodes.values()} >= {"Conv2d", "LIF", "SumPool2d", "Flatten", "Affine", "LI"}


def test_delay_model_roundtrip_uses_delay_nodes(tmp_path):
    torch.manual_seed(0)
    m = DelaySNN(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4, right_pad=0)
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm1d):
            bn.running_var.fill_(0.5)
    x = torch.poisson(torch.full((25, 2, 6), 0.5))
    a, b = _roundtrip(m, x, tmp_path)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    g = nir.read(tmp_path / "m.nir")
    delays = [n for n in g.nodes.values() if isinstance(n, nir.Delay)]
    assert len(delays) == 2 and delays[0].delay.shape == (5 * 6,)
    np.testing.assert_allclose(delays[0].delay / DT, m.delay_layers()[0].integer_delays().flatten().numpy())


def _run_snntorch(net, x):
    """Run an imported snnTorch graph (stateful GraphModule) step by step."""
    import snntorch.utils

    snntorch.utils.reset(net)
    out = []
    state = None
    for t in range(x.shape[0]):
        r = net(x[t]) if state is None else net(x[t], state)
        if isinstance(r, tuple):
            r, state = r
        out.append(r)
    return torch.stack(out)


def test_snntorch_imports_neuro_export_with_same_spikes():
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(0)
    m = nn.Sequential(SeqLinear(6, 10), LIF(beta=0.9, decay_input=False), SeqLinear(10, 4),
                      LIF(beta=0.8, decay_input=False)).eval()
    x = torch.rand(50, 2, 6)
    net = import_from_nir(to_nir(m, dt=DT))
    with torch.no_grad():
        ours = m(x)
        theirs = _run_snntorch(net, x)
    assert ours.sum() > 0
    assert torch.equal(ours, theirs)


def test_neuro_imports_snntorch_export_with_same_spikes():
    import snntorch as snn
    from snntorch.export_nir import _extract_snntorch_module

    torch.manual_seed(0)
    # NIR's LIF resets to v_reset right after the spike: snnTorch's reset_mechanism="zero", reset_delay=False
    # (its defaults, subtract with a delayed reset, export to the same node but do not mean it)
    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    lif1, lif2 = snn.Leaky(beta=0.9, **kw), snn.Leaky(beta=0.85, output=True, **kw)
    net = nn.Sequential(nn.Linear(6, 10), lif1, nn.Linear(10, 4), lif2)
    # snnTorch 1.0's export_to_nir trips over nir's type inference on any input; its per-module
    # converter (what export_to_nir calls for each layer) produces the nodes, chained here.
    nodes = {str(k): _extract_snntorch_module(mod) for k, mod in enumerate(net)}
    nodes["input"] = nir.Input({"input": np.array([6])})
    nodes["output"] = nir.Output({"output": np.array([4])})
    names = ["input", "0", "1", "2", "3", "output"]
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:], strict=True)), type_check=False)
    assert isinstance(nodes["1"], nir.LIF)
    ours = from_nir(g, dt=DT)
    x = torch.rand(50, 2, 6) * 1.5
    import snntorch.utils

    snntorch.utils.reset(net)
    with torch.no_grad():
        theirs = torch.stack([net(x[t])[0] for t in range(x.shape[0])])
        mine = ours(x)
    assert theirs.sum() > 0
    assert torch.equal(theirs, mine)


def test_bad_input_names_the_problem():
    m = nn.Sequential(SeqLinear(3, 2), LIF(v_reset=None))
    with pytest.raises(ConfigError, match="dt="):
        to_nir(m)
    with pytest.raises(ConfigError, match="soft .subtractive. reset"):
        to_nir(m, dt=1e-3)
    with pytest.raises(ConfigError, match="no NIR export for GRU"):
        to_nir(nn.Sequential(nn.GRU(3, 3)), dt=1e-3)
    lin = nir.Linear(weight=np.eye(3, dtype=np.float32))
    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([3])}), "a": lin, "b": lin,
                            "output": nir.Output({"output": np.array([3])})},
                     edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")], type_check=False)
    with pytest.raises(ConfigError, match="node input: branching"):
        from_nir(g, dt=1e-3)
    with pytest.raises(ConfigError, match="needs dt"):
        from_nir(g)


def test_export_and_run_commands(tmp_path):
    import json
    import subprocess
    import sys

    from neuro.models import build_model
    from neuro.training import TrainConfig, Trainer

    model = build_model("delay_snn", n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4, right_pad=0)
    data = torch.utils.data.TensorDataset(torch.poisson(torch.full((8, 12, 6), 0.5)), torch.randint(0, 3, (8,)))
    Trainer(model, data, None, TrainConfig(epochs=1, batch_size=4, out_dir=str(tmp_path), progress=False),
            model_name="delay_snn", model_config=dict(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4,
                                                      right_pad=0)).fit()
    r = subprocess.run([sys.executable, "-m", "neuro", "export", str(tmp_path / "last.ckpt"), "--to", "nir",
                        str(tmp_path / "m.nir"), "--dt", "1e-3", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Delay" in json.loads(r.stdout)["nodes"].values()
    np.save(tmp_path / "x.npy", np.random.default_rng(0).poisson(0.5, (20, 2, 6)).astype(np.float32))
    outs = []
    for backend in ("torch", "cpu"):
        r = subprocess.run([sys.executable, "-m", "neuro", "run", str(tmp_path / "m.nir"), "--input",
                            str(tmp_path / "x.npy"), "--backend", backend, "--output", str(tmp_path / f"{backend}.npy"),
                            "--json"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs.append(np.load(tmp_path / f"{backend}.npy"))
    assert outs[0].shape == (20, 2, 3)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def test_one_nir_graph_on_every_backend(tmp_path):
    """The same .nir file runs on torch, cpu, loihi (fixed point) and, when present, Lava."""
    import subprocess
    import sys

    from neuro.hardware.loihi import lava_status

    torch.manual_seed(0)
    m = nn.Sequential(SeqLinear(6, 12, bias=False), LIF(beta=0.5, decay_input=False),
                      SeqLinear(12, 3, bias=False), LI(beta=0.5, decay_input=False)).eval()
    with torch.no_grad():
        m[0].weight.copy_(torch.randint(-4, 5, (12, 6)) / 4.0)  # exactly representable in fixed point
        m[2].weight.copy_(torch.randint(-4, 5, (3, 12)) / 4.0)
    nir.write(tmp_path / "m.nir", to_nir(m, dt=1e-3))
    x = (np.random.default_rng(0).random((15, 2, 6)) < 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    backends = ["torch", "cpu", "loihi"] + (["lava"] if lava_status()[0] else [])
    outs = {}
    for b in backends:
        r = subprocess.run([sys.executable, "-m", "neuro", "run", str(tmp_path / "m.nir"), "--input",
                            str(tmp_path / "x.npy"), "--backend", b, "--output", str(tmp_path / f"{b}.npy")],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        outs[b] = np.load(tmp_path / f"{b}.npy")
    np.testing.assert_allclose(outs["torch"], outs["cpu"], atol=1e-5)
    # fixed point follows float closely (rare threshold ties and rounding can flip a hidden spike)
    err = np.abs(outs["loihi"] - outs["torch"]).mean() / np.abs(outs["torch"]).mean()
    assert err < 0.1, err
    if "lava" in outs:
        np.testing.assert_array_equal(outs["lava"], outs["loihi"])


def test_recurrent_layer_roundtrips_as_a_subgraph(tmp_path):
    from neuro.layers import Recurrent

    torch.manual_seed(0)
    m = nn.Sequential(Recurrent(6, 10, LIF(beta=0.8, decay_input=False)), SeqLinear(10, 3), LI(tau=2.0))
    x = (torch.rand(30, 2, 6) < 0.4).float()
    a, b = _roundtrip(m, x, tmp_path)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    g = nir.read(tmp_path / "m.nir")
    sub = next(n for n in g.nodes.values() if isinstance(n, nir.NIRGraph))
    assert ("neuron", "w_rec") in sub.edges and ("w_rec", "neuron") in sub.edges


def test_snntorch_imports_the_recurrent_subgraph_with_same_spikes():
    from snntorch.import_nir import import_from_nir

    from neuro.layers import Recurrent

    torch.manual_seed(0)
    m = nn.Sequential(Recurrent(6, 10, LIF(beta=0.8, decay_input=False)), SeqLinear(10, 3),
                      LIF(beta=0.9, decay_input=False)).eval()
    with torch.no_grad():
        m[0].ff.weight.mul_(4)
        m[1].weight.mul_(3)
    x = (torch.rand(40, 2, 6) < 0.4).float()
    net = import_from_nir(to_nir(m, dt=DT))  # snnTorch turns the subgraph into its recurrent neuron
    with torch.no_grad():
        ours, theirs = m(x), _run_snntorch(net, x)
    assert ours.sum() > 0
    assert torch.equal(ours, theirs)


def test_integrator_node_imports():
    g = nir.NIRGraph(nodes={"input": nir.Input({"input": np.array([2])}),
                            "w": nir.Linear(weight=np.eye(2, dtype=np.float32)),
                            "i": nir.I(r=np.full(2, 1e3, np.float32)),
                            "output": nir.Output({"output": np.array([2])})},
                     edges=[("input", "w"), ("w", "i"), ("i", "output")])
    net = from_nir(g, dt=1e-3)  # dv/dt = R I with R dt = 1: a running sum
    x = torch.rand(10, 1, 2)
    torch.testing.assert_close(net(x), x.cumsum(0))


def test_roundtrip_conv1d(tmp_path):
    from neuro.layers import SeqConv1d

    torch.manual_seed(0)
    m = nn.Sequential(SeqConv1d(3, 4, 3, padding=1), LIF(tau=2.0), Flatten(), SeqLinear(4 * 10, 2), LI(tau=2.0))
    x = (torch.rand(12, 2, 3, 10) < 0.4).float()
    a, b = _roundtrip(m, x, tmp_path, input_shape=(3, 10))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert any(isinstance(n, nir.Conv1d) for n in nir.read(tmp_path / "m.nir").nodes.values())


def test_export_for_a_client_names_what_it_cannot_read():
    m = DelaySNN(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4, right_pad=0)
    with pytest.raises(ConfigError, match=r"layer 0 \(DelayedLinear\): snntorch cannot represent its NIR Delay node"):
        to_nir(m, dt=DT, target="snntorch")
    plain = nn.Sequential(SeqLinear(6, 4), LIF(beta=0.9, decay_input=False))
    assert isinstance(to_nir(plain, dt=DT, target="snntorch"), nir.NIRGraph)


def test_a_model_shows_the_exporters_its_layer_chain():
    """NIR and the hardware targets read any model through ``as_sequential()``, no exporter special-cases it."""
    from neuro.hardware import float_layers

    class Wrapped(nn.Module):  # not a Sequential and no .net: only as_sequential() says what it computes
        def __init__(self) -> None:
            super().__init__()
            self.chain = nn.Sequential(SeqLinear(3, 4), LIF(beta=0.5, decay_input=False))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.chain(x)

        def as_sequential(self) -> nn.Sequential:
            return self.chain

    m = Wrapped()
    g = to_nir(m, dt=DT)
    assert [type(n).__name__ for n in g.nodes.values()] == ["Input", "Affine", "LIF", "Output"]
    x = (torch.rand(6, 2, 3) < 0.5).float()
    assert torch.equal(from_nir(g)(x), m(x))
    (layer,) = float_layers(m)
    np.testing.assert_allclose(layer.weight, m.chain[0].weight.detach().double().numpy())


def test_a_conv_graph_in_memory_imports_like_its_file():
    """to_nir wrote Conv2d stride/padding as tuples, which from_nir refused until the graph went through a file."""
    torch.manual_seed(0)
    m = nn.Sequential(SeqConv2d(2, 4, 3, padding=1, stride=2), LIF(tau=2.0), Flatten(), SeqLinear(4 * 4 * 4, 3),
                      LI(tau=2.0)).eval()
    x = (torch.rand(6, 2, 2, 8, 8) < 0.3).float()
    with torch.no_grad():
        torch.testing.assert_close(from_nir(to_nir(m, dt=DT, input_shape=(2, 8, 8)))(x), m(x), rtol=1e-5, atol=1e-5)
