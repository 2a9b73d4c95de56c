"""Data-parallel training with neuro's Trainer: start with torchrun (see docs/performance-at-scale.md)."""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuro import LI, LIF
from neuro.layers import SeqLinear
from neuro.training import TrainConfig, Trainer

torch.manual_seed(0)  # the same data and initial weights on every process
x = (torch.rand(256, 50, 140) < 0.05).float()  # 256 samples of [T=50, 140 channels] spikes
y = torch.randint(0, 20, (256,))
model = nn.Sequential(SeqLinear(140, 128), LIF(tau=2.0), SeqLinear(128, 20), LI(tau=2.0))
cfg = TrainConfig(epochs=2, batch_size=32, out_dir="runs/ddp")  # batch_size is per process
Trainer(model, TensorDataset(x, y), config=cfg).fit()
