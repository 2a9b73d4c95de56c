"""Graphs exported for one NIR client (``to_nir(target=...)``), run by that client's own importer and simulator.

Each test writes small models (Linear+LIF, two layers, recurrent, a small convolution) for a client,
runs the file in the client, and asserts its spikes equal neuro's.  Sinabs and Rockpool pin
``nir<=1.0.4`` and run from the folder ``neuro nir setup`` fills (skipped with the reason when it is
missing); snn-mlir's simulation needs its snn-opt toolchain, so its test checks what its own parser reads.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neuro import IF, LI, LIF, CubaLIF
from neuro.errors import ConfigError
from neuro.export import from_nir, to_nir, write_nir
from neuro.export.nir_clients import CLIENTS, client_status, run_client
from neuro.layers import Flatten, Recurrent, SeqAvgPool2d, SeqConv2d, SeqLinear, SeqSumPool2d
from neuro.neurons.base import SpikingNeuron

DT = 1e-3  # not snnTorch's assumed 1e-4: the snntorch target converts


def _reference(m: nn.Module) -> nn.Module:
    """``m`` in eval mode on the torch reference backend (no kernel compilation in a short test)."""
    for mod in m.modules():
        if isinstance(mod, SpikingNeuron):
            mod.backend = "torch"
    return m.eval()


def _bounded(m: nn.Module, most: float = 0.95) -> nn.Module:
    """Scale every synapse so one step's input stays below ``most`` x threshold: a neuron then never reaches
    twice its threshold, where Sinabs and Rockpool would fire several spikes in one step."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Linear | nn.Conv2d):
                w = mod.weight.reshape(mod.weight.shape[0], -1)
                pos = w.clamp(min=0).sum(1) + (mod.bias.clamp(min=0) if mod.bias is not None else 0)
                scale = most / pos.clamp(min=most)
                mod.weight.mul_(scale.reshape(-1, *[1] * (mod.weight.dim() - 1)))
                if mod.bias is not None:
                    mod.bias.mul_(scale)
    return _reference(m)


def _scaled(m: nn.Module, k: float) -> nn.Module:
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(k)
    return _reference(m)


def _spikes(shape, p: float = 0.5, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


def _check(target: str, cases: dict, tmp_path) -> None:
    """Export each ``(model, x, input_shape)`` for ``target``, run all in the client, compare with neuro."""
    ok, why = client_status(target)
    if not ok:
        pytest.skip(why)
    jobs = []
    for name, (m, x, shape) in cases.items():
        write_nir(m, tmp_path / f"{name}.nir", dt=DT, input_shape=shape, target=target)
        jobs.append((tmp_path / f"{name}.nir", x.numpy()))
    outs = run_client(target, jobs, DT)
    for (name, (m, x, _)), theirs in zip(cases.items(), outs, strict=True):
        with torch.no_grad():
            ours = m(x)
        assert ours.abs().sum() > 0, name
        assert theirs.shape == tuple(ours.shape), name
        if name.startswith("li"):  # a membrane readout: float arithmetic in a different order
            np.testing.assert_allclose(theirs, ours.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
        else:
            assert np.array_equal(theirs, ours.numpy()), f"{target}: {name}: {int((theirs != ours.numpy()).sum())} " \
                                                         "spikes differ"


def _recurrent_matters(m: nn.Module, x: torch.Tensor) -> bool:
    with torch.no_grad():
        a = m(x)
        saved = m[0].rec.weight.clone()
        m[0].rec.weight.zero_()
        b = m(x)
        m[0].rec.weight.copy_(saved)
    return not torch.equal(a, b)


def test_norse_runs_neuro_exports_with_the_same_spikes(tmp_path):
    torch.manual_seed(0)
    rec = _scaled(nn.Sequential(Recurrent(6, 10, LIF(beta=0.8, decay_input=False)), SeqLinear(10, 3),
                                LIF(beta=0.9, decay_input=False)), 3)
    rec_cuba = _scaled(nn.Sequential(Recurrent(6, 10, CubaLIF(beta_syn=0.5, beta_mem=0.8)), SeqLinear(10, 3),
                                     LIF(beta=0.9, decay_input=False)), 3)
    x = _spikes((30, 2, 6))
    assert _recurrent_matters(rec, x) and _recurrent_matters(rec_cuba, x)
    cases = {
        "rec_cuba": (rec_cuba, x, None),
        # decay_input=False: Norse ignores r, so the export folds it into the weights
        "lif": (_scaled(nn.Sequential(SeqLinear(6, 10), LIF(beta=0.8, decay_input=False), SeqLinear(10, 4),
                                      LIF(beta=0.9, decay_input=True)), 6), x, None),
        "if": (_scaled(nn.Sequential(SeqLinear(6, 10), IF(), SeqLinear(10, 4, bias=False), IF()), 3), x, None),
        "cuba": (_scaled(nn.Sequential(SeqLinear(6, 10), CubaLIF(beta_syn=0.7, beta_mem=0.8), SeqLinear(10, 4),
                                       CubaLIF(beta_syn=0.6, beta_mem=0.9)), 3), x, None),
        "rec": (rec, x, None),
        "conv": (_scaled(nn.Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(beta=0.8, decay_input=False),
                                       SeqSumPool2d(2), Flatten(), SeqLinear(64, 5), LIF(beta=0.9)), 3),
                 _spikes((20, 2, 2, 8, 8), 0.3), (2, 8, 8)),
    }
    _check("norse", cases, tmp_path)


def test_snntorch_runs_neuro_exports_with_the_same_spikes(tmp_path):
    torch.manual_seed(0)
    rec = _scaled(nn.Sequential(Recurrent(6, 10, LIF(beta=0.8, decay_input=False)), SeqLinear(10, 3),
                                LIF(beta=0.9, decay_input=False)), 3)
    x = _spikes((30, 2, 6))
    assert _recurrent_matters(rec, x)
    cases = {
        "lif": (_scaled(nn.Sequential(SeqLinear(6, 10), LIF(beta=0.8, decay_input=True), SeqLinear(10, 4),
                                      LIF(beta=0.9, decay_input=False)), 6), x, None),
        "cuba": (_scaled(nn.Sequential(SeqLinear(6, 10), CubaLIF(beta_syn=0.7, beta_mem=0.8), SeqLinear(10, 4),
                                       CubaLIF(beta_syn=0.6, beta_mem=0.9)), 3), x, None),
        "rec": (rec, x, None),
        "conv": (_scaled(nn.Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(beta=0.8, decay_input=False),
                                       SeqAvgPool2d(2), Flatten(), SeqLinear(64, 5), LIF(beta=0.9, decay_input=False)),
                         3), _spikes((20, 2, 2, 8, 8), 0.3), (2, 8, 8)),
    }
    _check("snntorch", cases, tmp_path)


def test_sinabs_runs_neuro_exports_with_the_same_spikes(tmp_path):
    torch.manual_seed(0)
    x = _spikes((30, 2, 6), 0.7)
    soft = dict(v_reset=None)  # Sinabs subtracts the threshold
    cases = {
        "lif": (_bounded(nn.Sequential(SeqLinear(6, 10), LIF(beta=0.8, decay_input=False, **soft),
                                       SeqLinear(10, 4, bias=False), LIF(beta=0.95, decay_input=False, **soft))),
                x, None),
        "li": (_bounded(nn.Sequential(SeqLinear(6, 10), LIF(beta=0.8, decay_input=True, v_threshold=0.3, **soft),
                                      SeqLinear(10, 4), LI(beta=0.9, decay_input=True))), x, None),
        "conv": (_bounded(nn.Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(beta=0.9, decay_input=False, **soft),
                                        SeqSumPool2d(2), Flatten(), SeqLinear(64, 5),
                                        LIF(beta=0.97, decay_input=False, v_threshold=0.5, **soft))),
                 _spikes((30, 2, 2, 8, 8), 0.5), (2, 8, 8)),
    }
    _check("sinabs", cases, tmp_path)


def test_rockpool_runs_neuro_exports_with_the_same_spikes(tmp_path):
    torch.manual_seed(0)
    x = _spikes((30, 2, 6))
    soft = dict(v_reset=None)
    two = _bounded(nn.Sequential(SeqLinear(6, 10), CubaLIF(beta_syn=0.7, beta_mem=0.8, **soft), SeqLinear(10, 4),
                                 CubaLIF(beta_syn=0.6, beta_mem=0.9, **soft)), 0.4)
    rec = nn.Sequential(Recurrent(6, 10, CubaLIF(beta_syn=0.7, beta_mem=0.8, **soft)), SeqLinear(10, 4),
                        CubaLIF(beta_syn=0.6, beta_mem=0.9, **soft))
    with torch.no_grad():
        rec[0].rec.weight.mul_(0.2)
    rec = _bounded(rec, 0.4)
    assert _recurrent_matters(rec, x)
    _check("rockpool", {"cuba": (two, x, None), "rec": (rec, x, None)}, tmp_path)


def test_snn_mlir_reads_neuro_decays_thresholds_and_folded_weights():
    snn_mlir = pytest.importorskip("snn_mlir", reason="snn-mlir is not installed (pip install snn-mlir)")
    torch.manual_seed(0)
    m = nn.Sequential(SeqLinear(6, 10), LIF(beta=0.8, decay_input=True, v_threshold=0.7), SeqLinear(10, 5, bias=False),
                      IF(), SeqLinear(5, 4), CubaLIF(beta_syn=0.5, beta_mem=0.9), SeqLinear(4, 3),
                      LI(beta=0.7, decay_input=False)).eval()
    g = to_nir(m, dt=DT, target="snn-mlir")
    assert snn_mlir.check(g).ok
    layers = list(snn_mlir.parse_graph(g))
    decays = [(getattr(la, "decay", None), getattr(la, "cur_decay", None), getattr(la, "vol_decay", None))
              for la in layers if la.is_neuron]
    np.testing.assert_allclose([d for t in decays for d in t if d is not None], [0.8, 1.0, 0.5, 0.9, 0.7], rtol=1e-6)
    assert [la.threshold for la in layers if hasattr(la, "threshold")] == pytest.approx([0.7, 1.0, 1.0])
    # snn-mlir adds its input with gain 1: LIF(decay_input=True)'s (1 - beta) is in the first weights
    np.testing.assert_allclose(layers[0].weights, (1 - 0.8) * m[0].weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(layers[0].bias, (1 - 0.8) * m[0].bias.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(layers[2].weights, m[2].weight.detach().numpy())
    conv = nn.Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(beta=0.8, decay_input=False), SeqSumPool2d(2), Flatten(),
                         SeqLinear(64, 5), LIF(beta=0.9, decay_input=False))
    assert snn_mlir.check(to_nir(conv, dt=DT, input_shape=(2, 8, 8), target="snn-mlir")).ok
    # a recurrent layer as the neuron <-> synapse loop snn-mlir reads, the input gain folded into both weights
    rec = nn.Sequential(Recurrent(6, 10, LIF(beta=0.8)), SeqLinear(10, 3), LIF(beta=0.9, decay_input=False)).eval()
    info = snn_mlir.parse_graph(to_nir(rec, dt=DT, target="snn-mlir"))
    assert len(info.recurrent_edges) == 1
    w_rec = next(la for la in info if la.name == info.recurrent_edges[0][1])
    np.testing.assert_allclose(w_rec.weights, (1 - 0.8) * rec[0].rec.weight.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("target", "make", "match"),
    [
        ("snntorch", lambda: nn.Sequential(SeqLinear(4, 3), IF()), r"layer 1 \(IF\).*beta = 0\.9"),
        ("snntorch", lambda: nn.Sequential(SeqLinear(4, 3), LIF(v_reset=None)), r"subtracts the threshold"),
        ("norse", lambda: nn.Sequential(SeqLinear(4, 3), LI()), r"layer 1 \(LI\).*Norse 1\.1's importer has no LI"),
        ("norse", lambda: nn.Sequential(SeqLinear(4, 3), LIF(v_reset=-0.5)), r"resets to v_reset=-0\.5"),
        ("sinabs", lambda: nn.Sequential(SeqLinear(4, 3), LIF()), r"subtract the threshold.*use v_reset=None"),
        ("sinabs", lambda: nn.Sequential(SeqLinear(4, 3), IF(v_reset=None)), r"clipped at -v_threshold"),
        ("sinabs", lambda: nn.Sequential(Recurrent(4, 3, LIF(v_reset=None))), r"no recurrent subgraph"),
        ("sinabs", lambda: nn.Sequential(SeqLinear(4, 3), CubaLIF(v_reset=None)), r"no CubaLIF"),
        ("rockpool", lambda: nn.Sequential(SeqLinear(4, 3), LIF(v_reset=None)), r"fails on LIF nodes"),
        ("rockpool", lambda: nn.Sequential(SeqConv2d(2, 2, 3), CubaLIF(v_reset=None)),
         r"rockpool cannot represent its NIR Conv2d node"),
        ("snn-mlir", lambda: nn.Sequential(SeqLinear(4, 3), LIF(shape=(3,), learn_beta=True)),
         r"needs one decay for all neurons"),
        ("norse", lambda: nn.Sequential(LIF(decay_input=False)), r"no layer with weights comes before it"),
    ],
)
def test_a_client_target_refuses_what_the_client_cannot_reproduce(target, make, match):
    m = make().eval()
    for mod in m.modules():  # per-neuron decays that differ
        if isinstance(mod, LIF) and getattr(mod.beta, "learnable", False) and mod.beta.logit.numel() > 1:
            with torch.no_grad():
                mod.beta.logit.copy_(torch.linspace(-1, 1, mod.beta.logit.numel()))
    shape = (2, 6, 6) if isinstance(m[0], SeqConv2d) else (4,) if isinstance(m[0], LIF) else None
    with pytest.raises(ConfigError, match=match):
        to_nir(m, dt=DT, input_shape=shape, target=target)


def test_old_nir_clients_get_files_without_v_reset_and_affine_for_bias_free_linear(tmp_path):
    import h5py

    m = nn.Sequential(SeqLinear(4, 3, bias=False), LIF(v_reset=None)).eval()
    g = write_nir(m, tmp_path / "s.nir", dt=DT, target="sinabs")
    assert isinstance(g.nodes["0_affine"], nir.Affine) and not g.nodes["0_affine"].bias.any()
    with h5py.File(tmp_path / "s.nir") as f:
        lif = f["node/nodes/1_lif"]
        assert "v_threshold" in lif and "v_reset" not in lif
    assert to_nir(m[:1], dt=DT) is not None and "v_reset" in to_nir(nn.Sequential(SeqLinear(4, 3), LIF()),
                                                                   dt=DT).nodes["1_lif"].__dict__


def test_the_cli_client_choices_are_the_known_clients():
    from neuro.cli import build_parser
    from neuro.commands.export import CLIENT_NAMES  # imported on its own: the parser must still have every command

    assert CLIENT_NAMES == list(CLIENTS)
    commands = next(a for a in build_parser()._actions if a.dest.startswith("_cmd_")).choices
    assert {"train", "export", "nir", "lava"} <= set(commands)


def test_export_command_writes_for_a_client_and_refuses_what_it_cannot_read(tmp_path, capsys):
    from neuro.cli import main
    from neuro.models import build_model, save_checkpoint

    cfg = dict(in_channels=2, size=16, n_classes=3, channels=(2, 4))
    save_checkpoint({"model_name": "conv_snn", "model_config": cfg,
                     "state_dict": build_model("conv_snn", **cfg).state_dict(), "dt": DT}, tmp_path / "m.ckpt")
    args = ["export", str(tmp_path / "m.ckpt"), "--to", "nir", "--input-shape", "2", "16", "16", "--dt", str(DT)]
    assert main([*args, "--client", "snn-mlir", "--json", "--", str(tmp_path / "m.nir")]) == 0
    assert '"client": "snn-mlir"' in capsys.readouterr().out
    assert nir.read(tmp_path / "m.nir").metadata["client"] == "snn-mlir"
    assert main([*args, "--client", "norse", "--", str(tmp_path / "n.nir")]) == 2
    err = capsys.readouterr().err
    assert "layer 11 (LI): cannot export LI for norse" in err and not (tmp_path / "n.nir").exists()
    assert main(["export", str(tmp_path / "m.ckpt"), "--to", "loihi", str(tmp_path / "m.net"), "--client",
                 "norse"]) == 2
    assert "--client norse applies to --to nir only" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["norse", "snntorch"])
def test_norse_and_snntorch_exports_stay_faithful_nir_that_neuro_reads_back(target):
    torch.manual_seed(0)
    pool = SeqAvgPool2d(2) if target == "snntorch" else SeqSumPool2d(2)
    conv = _scaled(nn.Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(beta=0.8, decay_input=False), pool, Flatten(),
                                 SeqLinear(64, 5), LIF(beta=0.9)), 3 if target == "norse" else 10)
    rec = _scaled(nn.Sequential(Recurrent(6, 10, LIF(beta=0.8)), SeqLinear(10, 3), CubaLIF()), 6)
    for m, shape, x in [(conv, (2, 8, 8), _spikes((20, 2, 2, 8, 8), 0.3)), (rec, None, _spikes((20, 2, 6)))]:
        back = from_nir(to_nir(m, dt=DT, input_shape=shape, target=target))  # in memory, as from a file
        with torch.no_grad():
            ours, again = m(x), back(x)
        assert ours.sum() > 0
        torch.testing.assert_close(again, ours, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", ["sinabs", "rockpool", "snn-mlir"])
def test_neuro_refuses_a_graph_written_in_a_clients_own_conventions(target, tmp_path):
    from neuro.errors import DataError
    from neuro.export import read_nir

    neuron = CubaLIF(v_reset=None) if target == "rockpool" else LIF(v_reset=None if target == "sinabs" else 0.0)
    m = nn.Sequential(SeqLinear(4, 3), neuron).eval()
    g = write_nir(m, tmp_path / "c.nir", dt=DT, target=target)
    with pytest.raises(ConfigError, match=f"written in {target}'s conventions"):
        from_nir(g)
    if target != "snn-mlir":  # nir <= 1.0.4 files: neuro's reader sees the same metadata
        with pytest.raises(DataError, match=f"c.nir: this graph was written in {target}'s conventions"):
            read_nir(tmp_path / "c.nir")
