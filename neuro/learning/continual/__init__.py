"""Continual learning: tasks and metrics (:mod:`.tasks`), strategies (:mod:`.strategies`), the training
loop (:mod:`.loop`) and the accuracy-matrix plot (:mod:`.plots`); everything is importable from here."""

from neuro.learning.continual.loop import evaluate, run_continual, run_multitask, run_multitask_heads
from neuro.learning.continual.plots import plot_accuracy_matrix
from neuro.learning.continual.strategies import EWC, GPM, STRATEGIES, FineTune, HLOPStrategy, Strategy
from neuro.learning.continual.tasks import ContinualConfig, ContinualResult, Task, acc_bwt, check_tasks

__all__ = ["EWC", "GPM", "STRATEGIES", "ContinualConfig", "ContinualResult", "FineTune", "HLOPStrategy", "Strategy",
           "Task", "acc_bwt", "check_tasks", "evaluate", "plot_accuracy_matrix", "run_continual", "run_multitask",
           "run_multitask_heads"]
