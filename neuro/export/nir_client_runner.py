"""Run a ``.nir`` file in one NIR client's own importer and simulator; a script, not imported by neuro.

Usage: ``python -P nir_client_runner.py CLIENT DT GRAPH.nir INPUT.npy OUTPUT.npy [GRAPH INPUT OUTPUT ...]``
(several graphs in one process: importing torch and the client is most of the time).  Each input
is ``[T, B, ...]``; the output, the client's last layer per step, is written as ``[T, B, ...]``.
Sinabs and Rockpool run with the folder that holds them and their ``nir<=1.0.4`` first on
``PYTHONPATH``, so this script imports nothing from neuro (which needs a newer nir).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch


def _stepwise(net, x: torch.Tensor, stateful: bool = True) -> torch.Tensor:
    """Call a nirtorch graph one step at a time, carrying its state."""
    out, state = [], None
    for t in range(x.shape[0]):
        r = net(x[t], state) if state is not None else net(x[t])
        if isinstance(r, tuple):
            r, state = r
        out.append(r)
    return torch.stack(out)


def run(client: str, path: str, x: np.ndarray, dt: float) -> np.ndarray:
    import nir

    graph = nir.read(path)
    xt = torch.as_tensor(x, dtype=torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if client == "norse":
            import norse.torch

            return _stepwise(norse.torch.from_nir(graph, dt=dt, ignore_warnings=True), xt).numpy()
        if client == "snntorch":
            import snntorch.utils
            from snntorch.import_nir import import_from_nir

            net = import_from_nir(graph)
            snntorch.utils.reset(net)
            return _stepwise(net, xt).numpy()
        if client == "sinabs":
            import sinabs.nir

            t, b = xt.shape[:2]
            net = sinabs.nir.from_nir(graph, batch_size=b)
            # Sinabs' layers take [B * T, ...] (batch-major) and split it into batch and time themselves
            y = net(xt.transpose(0, 1).reshape(b * t, *xt.shape[2:]))
            y = y[0] if isinstance(y, tuple) else y
            return y.reshape(b, t, *y.shape[1:]).transpose(0, 1).numpy()
        if client == "rockpool":
            from rockpool.nn.modules.torch.nir import from_nir

            net = from_nir(graph)
            y = net(xt.transpose(0, 1))  # Rockpool's modules take [B, T, N]
            y = y[0] if isinstance(y, tuple) else y
            return y.transpose(0, 1).numpy()
    raise SystemExit(f"unknown client {client!r}")


if __name__ == "__main__":
    name, step, *files = sys.argv[1:]
    for k in range(0, len(files) - 2, 3):
        np.save(files[k + 2], run(name, files[k], np.load(files[k + 1]), float(step)))
