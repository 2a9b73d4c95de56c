"""Checkpoints and cache files are data: a crafted file never runs code, an altered one is refused."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from neuro.cli import main
from neuro.datasets import CachedDataset
from neuro.errors import ConfigError, DataError
from neuro.models import build_model, load_checkpoint, read_checkpoint, save_checkpoint
from neuro.serialization import digest, from_plain, to_plain
from neuro.training import TrainConfig, Trainer

CONFIG = dict(n_in=6, hidden=5, n_layers=1, n_out=3, max_delay=4, right_pad=0)


class _Payload:
    """Unpickling this object runs code: it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def _checkpoint() -> dict:
    model = build_model("delay_snn", **CONFIG)
    return {"model_name": "delay_snn", "model_config": dict(CONFIG), "state_dict": model.state_dict(), "dt": 0.01}


def _payload_files(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """A torch checkpoint carrying a payload next to valid content, and a plain pickle of one."""
    out = {}
    marker = tmp_path / "ran-from-torch-zip"
    torch.save({**_checkpoint(), "extra": _Payload(marker)}, tmp_path / "evil.ckpt")
    out["torch zip"] = (tmp_path / "evil.ckpt", marker)
    marker = tmp_path / "ran-from-pickle"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({**_checkpoint(), "extra": _Payload(marker)}))
    out["plain pickle"] = (tmp_path / "evil.pkl", marker)
    marker = tmp_path / "ran-from-legacy"
    torch.save({**_checkpoint(), "extra": _Payload(marker)}, tmp_path / "legacy.ckpt",
               _use_new_zipfile_serialization=False)
    out["legacy torch"] = (tmp_path / "legacy.ckpt", marker)
    return out


@pytest.mark.parametrize("kind", ["torch zip", "plain pickle", "legacy torch"])
def test_payload_is_refused_by_load_checkpoint_and_never_runs(tmp_path, kind):
    path, marker = _payload_files(tmp_path)[kind]
    with pytest.raises(DataError, match=str(path.name)) as e:
        load_checkpoint(path)
    assert "refused" in str(e.value) or "not a torch archive" in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["torch zip", "plain pickle"])
def test_payload_is_refused_by_trainer_load(tmp_path, kind):
    path, marker = _payload_files(tmp_path)[kind]
    data = TensorDataset(torch.rand(4, 5, 6), torch.randint(0, 3, (4,)))
    tr = Trainer(build_model("delay_snn", **CONFIG), data, None, TrainConfig(epochs=1, progress=False),
                 model_name="delay_snn", model_config=dict(CONFIG))
    with pytest.raises(DataError, match=str(path.name)):
        tr.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["torch zip", "plain pickle"])
@pytest.mark.parametrize("command", ["eval", "export"])
def test_payload_is_refused_by_eval_and_export_commands(tmp_path, capsys, kind, command):
    path, marker = _payload_files(tmp_path)[kind]
    argv = {"eval": ["eval", str(path), "--dataset", "fsdd"],
            "export": ["export", str(path), "--to", "nir", str(tmp_path / "m.nir")]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "m.nir").exists()


def test_a_flipped_weight_bit_is_refused(tmp_path):
    ckpt = _checkpoint()
    w = ckpt["state_dict"]["net.0.weight"]
    w.view(-1)[0] = 1.2345678
    path = tmp_path / "m.ckpt"
    save_checkpoint(ckpt, path)
    model, _ = load_checkpoint(path)  # intact: loads
    assert model.state_dict()["net.0.weight"].view(-1)[0] == pytest.approx(1.2345678)
    raw = bytearray(path.read_bytes())
    at = raw.find(struct.pack("<f", 1.2345678))
    assert at > 0 and raw.find(struct.pack("<f", 1.2345678), at + 1) == -1
    raw[at] ^= 1  # the lowest mantissa bit of one weight
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"m\.ckpt is corrupt or was modified"):
        load_checkpoint(path)
    data = TensorDataset(torch.rand(4, 5, 6), torch.randint(0, 3, (4,)))
    tr = Trainer(build_model("delay_snn", **CONFIG), data, None, TrainConfig(epochs=1, progress=False))
    with pytest.raises(DataError, match="corrupt or was modified"):
        tr.load(path)


def test_an_edited_entry_is_refused_and_a_file_without_checksum_too(tmp_path):
    path = tmp_path / "m.ckpt"
    save_checkpoint(_checkpoint(), path)
    raw = torch.load(path, weights_only=True)
    raw["dt"] = 0.001  # edited, checksum left as it was
    torch.save(raw, path)
    with pytest.raises(DataError, match="corrupt or was modified"):
        read_checkpoint(path)
    del raw["checksum"]
    torch.save(raw, path)
    with pytest.raises(DataError, match="has no checksum"):
        load_checkpoint(path)


def test_payload_cache_file_is_not_executed(tmp_path):
    base = TensorDataset(torch.arange(12.0).reshape(4, 3), torch.arange(4))
    ca = CachedDataset(base, tmp_path, key="k")
    marker = tmp_path / "ran-from-cache"
    torch.save((_Payload(marker), 0), ca.dir / "1.pt")
    (ca.dir / "2.pt").write_bytes(pickle.dumps(_Payload(marker)))
    for i in (1, 2):
        with pytest.raises(DataError, match=f"{i}.pt"):
            ca[i]
    assert not marker.exists()


def test_cache_round_trips_numpy_items(tmp_path):
    class Items:
        transform = None

        def __len__(self):
            return 2

        def __getitem__(self, i):
            ev = np.zeros(3, dtype=[("t", "<i8"), ("x", "<i2"), ("p", "i1")])
            ev["t"] = [1, 2, 3 + i]
            return ev, {"label": np.int64(i), "frames": np.ones((2, 2), np.float32)}

    first = CachedDataset(Items(), tmp_path)[1]
    again = CachedDataset(Items(), tmp_path)[1]  # read back from the file
    assert again[0].dtype == first[0].dtype and np.array_equal(again[0], first[0])
    assert isinstance(again[1]["label"], np.int64) and again[1]["label"] == 1
    assert again[1]["frames"].dtype == np.float32 and not list(tmp_path.rglob("*.tmp"))


def test_plain_encoding_round_trips_and_refuses_objects(tmp_path):
    state = {"rng": np.random.get_state(), "path": Path("/a/b"), "n": np.float32(0.5), 3: (1, [2.0, None])}
    back = from_plain(to_plain(state))
    assert back["rng"][0] == "MT19937" and np.array_equal(back["rng"][1], state["rng"][1])
    assert back["path"] == "/a/b" and back["n"] == np.float32(0.5) and back[3] == (1, [2.0, None])
    assert digest(to_plain(state)) == digest(to_plain(dict(reversed(list(state.items())))))  # order-free
    with pytest.raises(ConfigError, match=r"\['bad'\]"):
        save_checkpoint({**_checkpoint(), "bad": object()}, tmp_path / "x.ckpt")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_trainer_checkpoint_is_data_only_and_restores_rng_exactly(tmp_path):
    data = TensorDataset(torch.rand(8, 5, 6), torch.randint(0, 3, (8,)))
    cfg = TrainConfig(epochs=1, batch_size=4, out_dir=str(tmp_path), progress=False)
    tr = Trainer(build_model("delay_snn", **CONFIG), data, None, cfg, model_name="delay_snn",
                 model_config=dict(CONFIG), metadata={"dt": 0.01})
    tr.fit()
    saved = np.random.get_state()
    raw = torch.load(tmp_path / "last.ckpt", weights_only=True)  # the restricted unpickler reads it all
    assert raw["dt"] == 0.01 and raw["checksum"].startswith("sha256:")
    np.random.seed(123)
    tr.load(tmp_path / "last.ckpt")
    now = np.random.get_state()
    assert now[0] == saved[0] and np.array_equal(now[1], saved[1]) and now[2:] == saved[2:]
