"""``neuro export`` and ``neuro run``: NIR files in and out."""

from __future__ import annotations

import os
from typing import Any

from neuro.commands.options import int_in, output_file, positive_float, positive_int
from neuro.commands.registry import arg, command, print_json

DEFAULT_DT = 1e-3  # seconds per step when neither --dt nor the checkpoint gives one


def load_input(path: str, option: str = "--input") -> Any:
    """A numeric ``.npy`` array from ``path``, read as data only.

    Raises :class:`~neuro.errors.DataError` naming the file when it is missing, not a ``.npy``
    file, truncated, pickled (object arrays are never unpickled), non-numeric, or holds NaN/inf.
    The header is checked against the file size first, so a corrupt shape cannot ask for memory.
    """
    import numpy as np

    from neuro.errors import DataError

    fix = "save a numeric array with np.save(path, x.astype(np.float32))"
    if not os.path.isfile(path):
        raise DataError(f"{option} {path}: no such file")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f".npy format version {version} is not supported")
            shape, _, dtype = read_header(f)  # parses the header text only: nothing is unpickled
            offset = f.tell()
    except Exception as e:  # ValueError for a wrong magic or header, EOFError/OSError when truncated
        raise DataError(f"{option} {path}: not a .npy array file ({type(e).__name__}: {e}); {fix}") from None
    if dtype.hasobject:
        raise DataError(f"{option} {path}: holds Python objects (a pickled array), which neuro never loads; {fix}")
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise DataError(f"{option} {path}: has dtype {dtype}; expected spikes or numbers (bool, int or float); {fix}")
    need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    have = os.path.getsize(path) - offset
    if need > have:
        raise DataError(f"{option} {path}: truncated (the header declares shape {shape}, {need} bytes; the file "
                        f"holds {have})")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{option} {path}: unreadable .npy file ({type(e).__name__}: {e}); {fix}") from None
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{option} {path}: holds NaN or inf values; give finite inputs")
    return x


def _resolve_dt(args, ckpt: dict) -> tuple[float, str]:
    """(dt, where it came from): ``--dt``, else the checkpoint's recorded ``dt``, else 1 ms."""
    from neuro.export.nir import check_dt

    if args.dt is not None:  # checked by its option type (positive_float)
        return args.dt, "--dt"
    if ckpt.get("dt") is not None:
        return check_dt(ckpt["dt"], f"the dt recorded in {args.checkpoint}"), "recorded in the checkpoint"
    return DEFAULT_DT, "default: the checkpoint records no dt; pass --dt to set it"


def _export_nir(model, args, ckpt: dict) -> dict:
    from neuro.export import write_nir
    from neuro.export.nir import check_input_shape

    dt, source = _resolve_dt(args, ckpt)
    shape = check_input_shape(model, args.input_shape, "--input-shape")
    g = write_nir(model, args.output, dt=dt, input_shape=shape, target=args.client)
    meta = {k: g.metadata[k] for k in ("input_length", "readout") if k in g.metadata}
    return {"file": args.output, "format": "nir", "nodes": {k: type(v).__name__ for k, v in g.nodes.items()},
            "dt": dt, "dt_source": source, "client": args.client, **meta}


def _export_loihi(model, args, ckpt: dict) -> dict:
    from neuro.hardware.loihi import export_loihi

    report = export_loihi(model, args.output, num_message_bits=args.num_message_bits, quantization=args.quantization)
    return {"file": args.output, "format": "loihi (lava-dl netx HDF5)", "quantization_scheme": args.quantization,
            "nodes": {la.name: la.sign_mode for la in report.layers}, "quantization": report.to_dict()}


def _export_xylo(model, args, ckpt: dict) -> dict:
    from neuro.hardware.xylo import quantize

    dt, _ = _resolve_dt(args, ckpt)
    net, report = quantize(model, clip=args.clip, dt=dt)
    net.save(args.output, report.to_dict())
    return {"file": args.output, "format": "xylo (neuro-xylo JSON with Rockpool's specification)",
            "nodes": {p.name: f"{p.n_in}->{p.n_out}" for p in report.populations}, "quantization": report.to_dict()}


EXPORTERS = {"nir": _export_nir, "loihi": _export_loihi, "xylo": _export_xylo}
CLIENT_NAMES = ["snntorch", "norse", "sinabs", "rockpool", "snn-mlir"]  # neuro.export.nir_clients.CLIENTS


@command("export", help="export a checkpoint to an interchange or hardware format",
         args=[arg("checkpoint", help="checkpoint file (.ckpt) to export"),
               arg("--to", choices=sorted(EXPORTERS), required=True, help="target format"),
               arg("output", type=output_file, help="file to write (.nir, .net for loihi, .json for xylo)"),
               arg("--dt", type=positive_float, default=None,
                   help="NIR only: seconds per simulation step (fixes time constants); default: the dt recorded in "
                        f"the checkpoint, else {DEFAULT_DT}"),
               arg("--input-shape", type=positive_int, nargs="+", default=None,
                   help="NIR only: shape of one input sample, e.g. 2 34 34 (needed when the model starts with a "
                        "convolution)"),
               arg("--client", choices=CLIENT_NAMES, default=None,
                   help="NIR only: write the conventions this client's importer reads, refusing what it cannot "
                        "reproduce; default: the faithful NIR graph"),
               arg("--num-message-bits", type=int_in(0, 24), default=0,
                   help="Loihi only: payload bits of the input messages; 0 = binary spikes, 8 for spike counts"),
               arg("--quantization", choices=["netx", "fine"], default="netx",
                   help="Loihi only: netx (default; lava-dl netx runs the file exactly as neuro's loihi backend) or "
                        "fine (finer thresholds and biases; the file is read exactly by neuro and its Lava bridge, "
                        "not by netx)"),
               arg("--clip", action="store_true",
                   help="Xylo only: clip thresholds and biases that do not fit (and drop delays) and report them, "
                        "instead of failing"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def export(args) -> int:
    from neuro.errors import ConfigError
    from neuro.models import load_checkpoint

    if args.client is not None and args.to != "nir":
        raise ConfigError(f"--client {args.client} applies to --to nir only (this exports --to {args.to})")
    model, ckpt = load_checkpoint(args.checkpoint)
    info = EXPORTERS[args.to](model, args, ckpt)
    if args.json:
        print_json(info)
    elif args.to == "nir":
        print(f"wrote {args.output} ({len(info['nodes'])} nodes), dt = {info['dt']:g} s ({info['dt_source']})")
    else:
        print(f"wrote {args.output} ({len(info['nodes'])} layers)")
    return 0


@command("nir setup", help="install Sinabs and Rockpool, which pin nir<=1.0.4, into a folder of their own for "
         "running files exported with --client sinabs|rockpool in them",
         args=[arg("--if-possible", action="store_true", help="exit 0 with a message when the install fails")])
def nir_setup(args) -> int:
    from neuro.export.nir_clients import setup_clients

    return setup_clients(if_possible=args.if_possible)


def _run_on_loihi(graph, dt, x, backend: str):
    """Quantize the NIR graph's layers and run them in fixed point (our simulator or Lava itself);
    the output is realigned (one step of latency per layer) and in float units.  The input is padded
    to the graph's ``input_length`` and by its delayed layers' ``right_pad`` (all at once, as
    :func:`neuro.hardware.loihi.evaluate_loihi` does).  Also returns the spike count of each layer
    (loihi simulator; ``None`` for Lava, which records only the last layer)."""
    import numpy as np
    import torch

    from neuro.export.nir_import import graph_padding, nir_float_layers
    from neuro.hardware.loihi import graded_message_bits, quantize, simulate

    net, _ = quantize(nir_float_layers(graph, dt), clip=True, num_message_bits=graded_message_bits(x))
    L = len(net.layers)
    input_length, pad = graph_padding(graph)
    T = max(x.shape[0], input_length) + pad
    xi = torch.zeros((T + L, *x.shape[1:]), dtype=torch.int64)
    xi[: x.shape[0]] = x.to(torch.int64)
    last = net.layers[-1]
    counts = None
    if backend == "loihi":
        r = simulate(net, xi, record=last.readout)
        out = r.v[-1] if last.readout else r.spikes[-1]
        counts = [{"layer": la.name or f"layer {k + 1}", "neurons": la.n_out,
                   "spikes": None if la.readout else int(r.spikes[k].sum())} for k, la in enumerate(net.layers)]
    else:
        from neuro.hardware.loihi import run_lava

        runs = [run_lava(net, xi[:, b].numpy()) for b in range(xi.shape[1])]
        out = torch.as_tensor(np.stack([r["v" if last.readout else "s"][-1] for r in runs], 1))
    out = out[L:].double()
    return (out / last.state_scale if last.readout else out).float(), counts


def _input_for(graph_file: str, in_shape: tuple[int, ...], x, path: str):
    """``x`` as ``[T, B, *in_shape]`` (a single ``[T, *in_shape]`` sample gets B = 1), or a DataError."""
    from neuro.errors import DataError

    want = ", ".join(str(v) for v in in_shape)
    if tuple(x.shape[1:]) == in_shape:
        x = x[:, None]
    elif tuple(x.shape[2:]) != in_shape or x.ndim != len(in_shape) + 2:
        raise DataError(f"--input {path} has shape {tuple(x.shape)}, but {graph_file} takes [T, B, {want}] "
                        f"(or [T, {want}] for one sample)")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"--input {path} has shape {tuple(x.shape)}: it needs at least one time step and one sample")
    return x


@command("run", help="run a NIR graph on an input sequence [T, B, ...] (.npy) and print its predictions",
         args=[arg("model", help="NIR graph (.nir) to run"),
               arg("--input", required=True, help=".npy array [T, B, ...] (or [T, ...] for one sample)"),
               arg("--backend", choices=["torch", "cpu", "gpu", "loihi", "lava"], default=None,
                   help="neuron backend (default: auto, the best one available here)"),
               arg("--dt", type=positive_float, default=None,
                   help="seconds per simulation step (default: the dt recorded in the graph)"),
               arg("--output", type=output_file, default=None, help="save the output sequence as .npy"),
               arg("--json", action="store_true", help="print JSON instead of text")])
def run(args) -> int:
    import numpy as np
    import torch

    from neuro.errors import ConfigError, DataError, NeuroError
    from neuro.export.nir_import import READOUTS, from_nir, graph_input_shape, graph_readout, read_nir, readout_scores
    from neuro.neurons import SpikingNeuron

    dt = args.dt  # checked by its option type (positive_float)
    if args.backend == "gpu" and not torch.cuda.is_available():
        raise ConfigError("--backend gpu needs a CUDA GPU and none is available; use --backend cpu or torch")
    graph = read_nir(args.model)
    try:
        in_shape = graph_input_shape(graph)
    except NeuroError as e:
        raise type(e)(f"{args.model}: {e}") from None
    x_np = load_input(args.input)
    x = torch.as_tensor(_input_for(args.model, in_shape, x_np, args.input), dtype=torch.float32)
    single = x_np.ndim == len(in_shape) + 1
    if args.backend in ("loihi", "lava") and not torch.equal(x, x.trunc()):
        raise DataError(f"--input {args.input}: the {args.backend} backend takes spikes (0/1) or whole-number counts; "
                        "the array has fractional values")
    try:
        if args.backend in ("loihi", "lava"):
            y, layers = _run_on_loihi(graph, dt, x, args.backend)
        else:
            net = from_nir(graph, dt)
            layers, hooks = [], []
            for name, m in net.named_modules():
                if isinstance(m, SpikingNeuron):
                    m.backend = args.backend
                    rec = {"layer": name, "neurons": None, "spikes": None}
                    layers.append(rec)
                    hooks.append(m.register_forward_hook(lambda mod, i, o, rec=rec: rec.update(
                        neurons=int(o[0, 0].numel()), spikes=int((o != 0).sum()) if mod.spiking else None)))
            dev = "cuda" if args.backend == "gpu" else "cpu"
            with torch.no_grad():
                y = net.to(dev)(x.to(dev)).cpu()
            for h in hooks:
                h.remove()
    except NeuroError as e:
        raise type(e)(f"{args.model}: {e}") from None
    readout = graph_readout(graph)
    preds = readout_scores(y.reshape(y.shape[0], y.shape[1], -1), readout).argmax(-1).tolist()
    out = y[:, 0] if single else y
    if args.output:
        np.save(args.output, out.numpy())
    summary = {"model": args.model, "backend": args.backend or "auto", "input_shape": list(x_np.shape),
               "output_shape": list(out.shape), "readout": readout, "predictions": preds}
    if layers is not None:  # spike counts over all samples and steps; None for a non-spiking readout
        summary["per_layer"] = layers
    if args.output:
        summary["output_file"] = args.output
    if args.json:
        print_json(summary)
        return 0
    print(f"{args.model} on the {summary['backend']} backend: input {tuple(x_np.shape)} -> output {tuple(out.shape)}")
    if layers:
        print("spikes per layer (all samples and steps): " + ", ".join(
            f"{r['layer']} {r['spikes']}" if r["spikes"] is not None else f"{r['layer']} (membrane readout)"
            for r in layers))
    print(f"readout: {readout} ({READOUTS[readout]}); predicted class = its argmax")
    if single:
        print(f"prediction: {preds[0]}")
    else:
        print("predictions (sample: class): " + ", ".join(f"{b}: {p}" for b, p in enumerate(preds)))
    if args.output:
        print(f"output sequence saved to {args.output}")
    return 0
