"""The NaN/inf input checks: one switch for the whole package, and the non-blocking check of CUDA kernels.

Every neuron and synapse kernel flags non-finite input; :func:`set_checks` turns the checks
off (e.g. for benchmarks).  CUDA kernels report through :func:`report_bad`, which queues the
flag behind a CUDA event instead of stalling the GPU (see :class:`_PendingChecks`).
"""

from __future__ import annotations

import torch

from neuro.errors import NeuroError

_CHECKS = True


def set_checks(enabled: bool) -> None:
    """Turn the NaN/inf input checks on or off globally (on by default)."""
    global _CHECKS
    _CHECKS = bool(enabled)


def checks_enabled() -> bool:
    return _CHECKS


class _PendingChecks:
    """NaN/inf flags raised by CUDA kernels, read back without stalling the host.

    Waiting for each kernel's flag would serialize the host with the GPU (the next kernels could
    not be queued meanwhile).  Instead the flag is copied into pinned host memory behind a CUDA
    event; flags whose event has completed are examined at the next neuron call, in backward, or
    by :func:`check_pending` (``wait=True`` blocks until all are known).
    """

    SLOTS = 64

    def __init__(self) -> None:
        self.host: torch.Tensor | None = None
        self.next = 0
        self.items: list[tuple[int, torch.cuda.Event, str]] = []

    def push(self, bad: torch.Tensor, message: str) -> None:
        if self.host is None:
            self.host = torch.zeros(self.SLOTS, dtype=torch.int32, pin_memory=True)
        if len(self.items) >= self.SLOTS:
            self.poll(wait=True)
        slot = self.next
        self.next = (self.next + 1) % self.SLOTS
        self.host[slot : slot + 1].copy_(bad.max().reshape(1), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.items.append((slot, event, message))

    def poll(self, wait: bool = False) -> None:
        failed, keep = None, []
        for slot, event, message in self.items:
            if wait:
                event.synchronize()
            if wait or event.query():
                if int(self.host[slot]) and failed is None:
                    failed = message
            else:
                keep.append((slot, event, message))
        self.items = keep
        if failed is not None:
            self.items = []
            raise NeuroError(failed + " (found by the CUDA kernel; reported at the next call without stalling the "
                             "GPU; neuro.set_checks(False) turns the check off)")


PENDING = _PendingChecks()


def check_pending(wait: bool = True) -> None:
    """Raise if a CUDA neuron kernel has seen NaN or inf input since the last check."""
    PENDING.poll(wait=wait)


def report_bad(bad: torch.Tensor, message: str) -> None:
    """NaN/inf check of a kernel's per-block flags: immediate on CPU tensors, non-blocking on CUDA."""
    if not checks_enabled():
        return
    if bad.is_cuda:
        PENDING.poll()
        PENDING.push(bad, message)
    elif bool(bad.any()):
        raise NeuroError(message)
