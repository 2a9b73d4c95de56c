"""Run the Triton neuron kernels against the torch reference (used by test_neurons_gpu.py).

Executed in a subprocess: with ``TRITON_INTERPRET=1`` set before Triton is imported, the GPU
kernels run on CPU tensors through Triton's interpreter; on a CUDA machine they run for real.
Exits non-zero with a message on the first mismatch.
"""

from __future__ import annotations

import sys

import torch

from neuro import State
from neuro.bench.timing import saved_bytes


def main(device: str) -> int:
    from test_neurons import VARIANTS, _run  # beside this script, which Python puts first on the path

    checked = 0
    for name, make in sorted(VARIANTS.items()):
        torch.manual_seed(0)
        ref = make("torch").to(device)
        fused = make("gpu").to(device)
        fused.load_state_dict(ref.state_dict())
        x = (torch.rand(16, 3, 7) * 1.6 - 0.2).to(device)
        st = ref.init_state((3, 7), device=device)
        st = State(*(None if t is None else torch.rand_like(t) * 0.5 for t in st))
        y1, s1, g1 = _run(ref, x, st)
        y2, s2, g2 = _run(fused, x, st)
        same = torch.equal(y1, y2) if ref.spiking else torch.allclose(y1, y2, rtol=1e-5, atol=1e-6)
        if not same:
            print(f"{name}: outputs differ", file=sys.stderr)
            return 1
        for k, (a, b) in enumerate(zip(g1, g2, strict=True)):
            if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
                print(f"{name}: gradient {k} differs by {(a - b).abs().max().item()}", file=sys.stderr)
                return 1
        xx = x.clone().requires_grad_()
        if saved_bytes(lambda f=fused, a=xx: f(a), xx) > saved_bytes(lambda r=ref, a=xx: r(a), xx):
            print(f"{name}: the Triton kernel keeps more memory for backward than the reference", file=sys.stderr)
            return 1
        checked += 1
    print(f"triton parity ok: {checked} variants on {device}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "cpu"))
