"""``neuro export`` and ``neuro run``: NIR files in and out."""

from __future__ import annotations

from neuro.commands.options import output_file, positive_float, positive_int
from neuro.commands.registry import arg, command, print_json


def _export_nir(model, out: str, dt: float, input_shape, client: str | None = None) -> dict:
    from neuro.export import write_nir

    g = write_nir(model, out, dt=dt, input_shape=input_shape, target=client)
    return {"file": out, "format": "nir", "nodes": {k: type(v).__name__ for k, v in g.nodes.items()}}


def _export_loihi(model, out: str, dt: float, input_shape, client: str | None = None) -> dict:
    from neuro.hardware.loihi import export_loihi

    report = export_loihi(model, out)
    return {"file": out, "format": "loihi (lava-dl netx HDF5)",
            "nodes": {la.name: la.sign_mode for la in report.layers}, "quantization": report.to_dict()}


EXPORTERS = {"nir": _export_nir, "loihi": _export_loihi}


@command("export", help="export a checkpoint to an interchange or hardware format",
         args=[arg("checkpoint", help="checkpoint file (.ckpt) to export"),
               arg("--to", choices=sorted(EXPORTERS), required=True, help="target format"),
               arg("output", type=output_file, help="file to write (.nir, or .net for loihi)"),
               arg("--dt", type=positive_float, default=1e-3,
                   help="seconds per simulation step (fixes time constants)"),
               arg("--input-shape", type=positive_int, nargs="+", default=None,
                   help="shape of one input sample, e.g. 2 34 34 (needed when the model starts with a convolution)"),
               arg("--client", default=None, help="NIR only: check the graph against a client's importer (snntorch)"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def export(args) -> int:
    from neuro.models import load_checkpoint

    model, ckpt = load_checkpoint(args.checkpoint)
    info = EXPORTERS[args.to](model, args.output, args.dt, args.input_shape, args.client)
    print_json(info) if args.json else print(f"wrote {args.output} ({len(info['nodes'])} nodes)")
    return 0


def _run_on_loihi(path: str, dt, x, backend: str):
    """Quantize the NIR graph's layers and run them in fixed point (our simulator or Lava itself);
    the output is realigned (one step of latency per layer) and in float units."""
    import numpy as np
    import torch

    from neuro.export import nir_float_layers
    from neuro.hardware.loihi import quantize, simulate

    graded = bool(((x != 0) & (x != 1)).any())
    net, _ = quantize(nir_float_layers(path, dt), clip=True, num_message_bits=8 if graded else 0)
    L = len(net.layers)
    xi = torch.cat([x.round().to(torch.int64), torch.zeros((L, *x.shape[1:]), dtype=torch.int64)])
    last = net.layers[-1]
    if backend == "loihi":
        r = simulate(net, xi, record=last.readout)
        out = r.v[-1] if last.readout else r.spikes[-1]
    else:
        from neuro.hardware.loihi import run_lava

        runs = [run_lava(net, xi[:, b].numpy()) for b in range(xi.shape[1])]
        out = torch.as_tensor(np.stack([r["v" if last.readout else "s"][-1] for r in runs], 1))
    out = out[L:].double()
    return (out / last.state_scale if last.readout else out).float()


@command("run", help="run a NIR graph on an input sequence [T, B, ...] (.npy) with a chosen neuron backend",
         args=[arg("model", help="NIR graph (.nir) to run"),
               arg("--input", required=True, help=".npy array [T, B, ...] (or [T, ...] for one sample)"),
               arg("--backend", choices=["torch", "cpu", "gpu", "loihi", "lava"], default=None,
                   help="neuron backend (default: auto, the best one available here)"),
               arg("--dt", type=positive_float, default=None,
                   help="seconds per simulation step (default: the dt recorded in the graph)"),
               arg("--output", type=output_file, default=None, help="save the output as .npy"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def run(args) -> int:
    import numpy as np
    import torch

    from neuro.errors import ShapeError
    from neuro.export import from_nir
    from neuro.neurons import SpikingNeuron

    x = torch.as_tensor(np.load(args.input), dtype=torch.float32)
    if x.dim() < 2:
        raise ShapeError(f"{args.input}: expected an array [T, B, ...] or [T, features], got shape {tuple(x.shape)}")
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(1)
    if args.backend in ("loihi", "lava"):
        y = _run_on_loihi(args.model, args.dt, x, args.backend)
    else:
        net = from_nir(args.model, dt=args.dt)
        for m in net.modules():
            if isinstance(m, SpikingNeuron):
                m.backend = args.backend
        dev = "cuda" if args.backend == "gpu" else "cpu"
        with torch.no_grad():
            y = net.to(dev)(x.to(dev)).cpu()
    if single:
        y = y[:, 0]
    if args.output:
        np.save(args.output, y.numpy())
    summary = {"output_shape": list(y.shape), "spikes": float(y.sum()), "backend": args.backend or "auto"}
    print_json(summary) if args.json else print(summary)
    return 0
