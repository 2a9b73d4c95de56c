"""Continual learning without forgetting: HLOP on permuted MNIST, next to plain fine-tuning.

Builds permuted-MNIST tasks from the real MNIST images (the 10,000 test images, split per task,
when the training set is not downloaded), trains a spiking 784-800-800-10 network on them one
after another, and prints the accuracy matrix, ACC and BWT of each method.

    NEURO_DATA_DIR=/path/to/data python examples/hlop_pmnist.py [--tasks 5] [--epochs 1]
"""

from __future__ import annotations

import argparse

import torch

from neuro.experiments.hlop import HEBBIAN_ITERATIONS, HEBBIAN_LR, PMNIST_NEURONS, pmnist_tasks
from neuro.learning.continual import ContinualConfig, FineTune, HLOPStrategy, plot_accuracy_matrix, run_continual
from neuro.models import SpikingMLP


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=None, help="data folder holding mnist/ (default: $NEURO_DATA_DIR)")
    p.add_argument("--tasks", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--T", type=int, default=4, help="time steps per image")
    p.add_argument("--plot", default="hlop_pmnist.png")
    a = p.parse_args()

    tasks, info = pmnist_tasks(a.tasks, a.root)
    print(f"{a.tasks} tasks from {info['source']}: {info['n_train_per_task']} train / "
          f"{info['n_test_per_task']} test images each")
    config = ContinualConfig(epochs=a.epochs, batch_size=64, lr=0.1, progress=True)
    matrices = {}
    for name, strategy in [
        ("finetune", FineTune()),
        # Hebbian subspace neurons per task for the input, hidden-1 and hidden-2 layers
        ("hlop", HLOPStrategy(PMNIST_NEURONS, lr=HEBBIAN_LR, iterations=HEBBIAN_ITERATIONS)),
    ]:
        torch.manual_seed(0)
        result = run_continual(SpikingMLP((784, 800, 800, 10), T=a.T), tasks, strategy, config)
        matrices[name] = result.matrix
        print(f"\n{name}: ACC {result.acc:.2f}  BWT {result.bwt:+.2f}  ({result.seconds:.0f} s)")
        print("accuracy after each task (rows) on every task (columns):")
        for row in result.matrix:
            print("  " + " ".join(f"{v:5.1f}" for v in row))
    print(f"\nplot: {plot_accuracy_matrix(matrices, a.plot, 'permuted MNIST')}")


if __name__ == "__main__":
    main()
