"""Data-parallel training (two gloo processes, as torchrun starts them) equals one process on the same global batch."""

from __future__ import annotations

import os
import socket
import time

import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuro import LI, LIF
from neuro.layers import DelayedLinear, Recurrent, SeqLinear
from neuro.training import TrainConfig, Trainer

GLOBAL_BATCH, WORLD, STEPS = 8, 2, 2


def _model() -> nn.Module:
    """Event-driven synapses, learned delays, LIF layers, a recurrent LIF layer and a leaky readout, in float64."""
    torch.manual_seed(0)
    net = nn.Sequential(
        SeqLinear(6, 10, event_driven=True), LIF(tau=2.0, v_threshold=0.3, backend="torch"),
        DelayedLinear(10, 10, max_delay=3, sigma=1.0), LIF(tau=2.0, v_threshold=0.3, backend="torch"),
        Recurrent(10, 8, LIF(tau=3.0, v_threshold=0.05)), SeqLinear(8, 3), LI(tau=2.0, backend="torch"),
    )
    return net.double()


def _data() -> TensorDataset:
    """One global batch: every epoch is one step over all of it, whatever order a sampler picks."""
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(GLOBAL_BATCH, 12, 6, generator=g) < 0.4).double()
    return TensorDataset(x, torch.arange(GLOBAL_BATCH) % 3)


def _train(batch_size: int, out_dir: str | None = None, slow_save: bool = False) -> Trainer:
    cfg = TrainConfig(epochs=STEPS, batch_size=batch_size, device="cpu", progress=False, seed=0, out_dir=out_dir)
    sgd = lambda m: [torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9)]  # noqa: E731
    tr = Trainer(_model(), _data(), None, cfg, optimizers=sgd)
    if slow_save:  # a slow disk on rank 0: the others must still find its checkpoints once fit() returns

        def save(path, tr=tr):
            time.sleep(0.3)
            Trainer.save(tr, path)

        tr.save = save  # type: ignore[method-assign]
    tr.fit()
    return tr


def _snapshot(tr: Trainer) -> dict[str, dict[str, torch.Tensor]]:
    m = tr.model
    return {"weights": {k: v.detach().clone() for k, v in m.state_dict().items()},
            "grads": {k: p.grad.detach().clone() for k, p in m.named_parameters()}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(WORLD), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    tr = _train(GLOBAL_BATCH // WORLD, out_dir=f"{out}/run", slow_save=rank == 0)
    assert isinstance(tr.net, nn.parallel.DistributedDataParallel)
    ckpt = torch.load(f"{out}/run/last.ckpt", weights_only=False)
    assert ckpt["epoch"] == STEPS, f"rank {rank} read the checkpoint of epoch {ckpt['epoch']}, not the final one"
    torch.save(_snapshot(tr), f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_process_gradients_and_weights_equal_single_process(tmp_path):
    """Two ranks with half the batch each: the same gradients and weights as one process with all of it.

    Also: when ``fit()`` returns, every rank sees rank 0's final checkpoint (a script that reloads
    ``best.ckpt`` after training must not get an older one on the other ranks).
    """
    torch.multiprocessing.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    single = _train(GLOBAL_BATCH)
    assert not single.distributed
    ref = _snapshot(single)
    init = _model().state_dict()
    assert any(not torch.equal(init[k], ref["weights"][k]) for k in init), "training changed nothing"
    assert all(g.abs().sum() > 0 for g in ref["grads"].values()), "a parameter got no gradient"
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        for kind in ("grads", "weights"):
            for k, v in ref[kind].items():
                torch.testing.assert_close(got[kind][k], v, rtol=1e-9, atol=1e-12, msg=f"rank {rank} {kind} {k}")


def test_docs_script_is_the_shipped_example():
    """The script shown in the docs is the one the torchrun commands there start."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "performance-at-scale.md").read_text()
    shown = page.split("```python\n# examples/train_ddp.py\n", 1)[1].split("```", 1)[0]
    example = (root / "examples" / "train_ddp.py").read_text()
    assert example.endswith("\n\n" + shown), "docs/performance-at-scale.md and examples/train_ddp.py differ"
