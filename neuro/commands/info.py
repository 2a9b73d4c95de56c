"""``neuro info``: version, devices and which backends can run here (and why not)."""

from __future__ import annotations

from neuro.commands.registry import arg, command, print_json


def collect_info() -> dict:
    """Version, devices, neuron backends, hardware targets and optional peers, as a JSON-able dict."""
    import importlib.util
    import platform

    import torch

    import neuro
    from neuro.backends import available_backends

    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    backends = {k: {"available": ok, "reason": why} for k, (ok, why) in available_backends().items()}
    try:
        from neuro.hardware.loihi import lava_status

        ok, why = lava_status()
        lava = {"available": ok, "reason": why}
    except Exception as e:  # an import error is a reason too
        lava = {"available": False, "reason": str(e)}
    hardware = {"loihi": {"available": True, "reason": "fixed-point simulator (CPU numba kernels, torch elsewhere)"},
                "lava": lava}
    peers = {
        name: importlib.util.find_spec(mod) is not None
        for name, mod in [
            ("spikingjelly", "spikingjelly"),
            ("snntorch", "snntorch"),
            ("norse", "norse"),
            ("tonic", "tonic"),
            ("dcls", "DCLS"),
            ("nir", "nir"),
            ("triton", "triton"),
        ]
    }
    return {
        "neuro": neuro.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "devices": devices,
        "backends": backends,
        "hardware": hardware,
        "peers": peers,
    }


@command("info", help="version, devices, and which backends are available here (and why not)",
         args=[arg("--json", action="store_true", help="print JSON instead of text")])
def info(args) -> int:
    data = collect_info()
    if args.json:
        print_json(data)
        return 0
    print(f"neuro {data['neuro']}  python {data['python']}  torch {data['torch']}  threads {data['threads']}")
    print("devices: " + ", ".join(data["devices"]))
    sections = (("neuron backends (neuro.set_backend, a layer's backend=, --backend):", data["backends"]),
                ("hardware targets (whole quantized networks: neuro run/eval --backend, neuro.hardware.loihi):",
                 data["hardware"]))
    for title, entries in sections:
        print(title)
        for name, b in entries.items():
            mark = "yes" if b["available"] else "no "
            print(f"  {name:6s} {mark}  {b['reason'] or 'available'}")
    print("peers: " + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in data["peers"].items()))
    return 0
