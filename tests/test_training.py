"""The training loop: learning, checkpoints and exact resume, data-parallel training with torchrun's env."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuro import LI, LIF
from neuro.errors import ConfigError, DataError
from neuro.layers import SeqLinear
from neuro.models import load_checkpoint, register_model
from neuro.training import TrainConfig, Trainer, seed_everything


@register_model("test_mlp")
def _mlp(n_in: int = 8, hidden: int = 16, n_out: int = 2) -> nn.Module:
    return nn.Sequential(SeqLinear(n_in, hidden), LIF(tau=2.0), SeqLinear(hidden, n_out), LI(tau=2.0))


def _data(n: int = 64, T: int = 10, seed: int = 0) -> TensorDataset:
    """Two classes: spikes on the first or the second half of the channels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    rate = torch.full((n, 8), 0.05)
    rate[y == 0, :4] = 0.6
    rate[y == 1, 4:] = 0.6
    x = (torch.rand(n, T, 8, generator=g) < rate[:, None]).float()
    return TensorDataset(x, y)


def test_trainer_learns_and_writes_outputs(tmp_path):
    cfg = TrainConfig(epochs=4, batch_size=16, lr=3e-2, out_dir=str(tmp_path), progress=False)
    tr = Trainer(_mlp(), _data(), _data(32, seed=1), cfg, model_name="test_mlp", model_config={})
    hist = tr.fit()
    assert hist[-1]["val_accuracy"] > 0.9
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    for f in ("last.ckpt", "best.ckpt", "history.json", "curves.png"):
        assert (tmp_path / f).stat().st_size > 0
    assert json.loads((tmp_path / "history.json").read_text())["best"]["epoch"] >= 1
    model, ckpt = load_checkpoint(tmp_path / "best.ckpt", expect_model="test_mlp")
    assert ckpt["epoch"] >= 1 and isinstance(model, nn.Sequential)
    with pytest.raises(ConfigError, match="holds a 'test_mlp' model"):
        load_checkpoint(tmp_path / "best.ckpt", expect_model="delay_snn")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.ckpt")


def test_resume_gives_identical_weights(tmp_path):
    def run(out, epochs):
        cfg = TrainConfig(epochs=epochs, batch_size=16, lr=5e-3, out_dir=str(out), progress=False, seed=3)
        seed_everything(3)  # the same initial weights for both runs
        tr = Trainer(_mlp(), _data(), None, cfg, model_name="test_mlp")
        tr.fit()
        return tr

    straight = run(tmp_path / "a", 3)
    run(tmp_path / "b", 1)
    resumed = run(tmp_path / "b", 3)  # picks up last.ckpt at epoch 1
    assert resumed.epoch == 3 and len(resumed.history) == 3
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
         "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-2, device="cpu", progress=False, seed=0)
    tr = Trainer(_mlp(), _data(), _data(32, seed=1), cfg)
    tr.fit()
    torch.save({"state": tr.model.state_dict(), "hist": tr.history}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_data_parallel_training_with_gloo(tmp_path):
    """Two processes (as torchrun would start them): gradients are averaged, replicas stay identical."""
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for k in r0["state"]:
        torch.testing.assert_close(r0["state"][k], r1["state"][k], msg=k)
    # metrics are all-reduced over ranks, so both report the same numbers
    assert r0["hist"][-1]["val_accuracy"] == r1["hist"][-1]["val_accuracy"]
    assert r0["hist"][-1]["train_loss"] < r0["hist"][0]["train_loss"]
