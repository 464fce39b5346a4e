"""Inference speed of the two models, as issue 7 asks for them.

- NC-CTM: seconds to segment a 160 x 256 x 256 lumbar CT (windowing, resampling to the
  model's spacing, sliding-window U-Net, resampling back, largest component).
- Pseudo-MRI: seconds per 256 x 256 slice at the default number of DDIM steps, and at 50
  steps (the figure the issue quotes for a first small model).

Speed does not depend on the weights, so both networks keep their random initial weights
at the default configuration. Each figure is the median of ``--repeats`` warm runs (a
worker keeps its model loaded, so the first, cold call is reported separately).

Run: ``PYTHONPATH=platform:. .venv/bin/python bench/inference.py [--device cuda]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where this file would shadow the
# ``inference`` package it measures (and bench/statistics.py the standard library's).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

from inference.common import limit_threads, seed_everything, select_device  # noqa: E402
from inference.ncctm import NCCTMConfig, NCCTMSegmenter, build_network  # noqa: E402
from inference.phantoms import generate_cervical_case, generate_lumbar_case  # noqa: E402
from inference.pseudomri import (  # noqa: E402
    ConditionalDenoiser,
    PseudoMRIConfig,
    PseudoMRIGenerator,
)

RESULTS = _HERE / "results" / "inference.json"


def _timed(run: Callable[[], object], repeats: int, device: torch.device) -> dict[str, float]:
    def once() -> float:
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    cold = once()
    warm = [once() for _ in range(repeats)]
    return {"cold_s": cold, "median_s": statistics.median(warm), "min_s": min(warm)}


def bench_ncctm(device: torch.device, repeats: int) -> dict[str, Any]:
    """Segment a 160 x 256 x 256 phantom with the default NC-CTM configuration."""
    config = NCCTMConfig()
    phantom = generate_lumbar_case(seed=1, shape=(160, 256, 256))
    segmenter = NCCTMSegmenter(build_network(config), config, device)
    timing = _timed(lambda: segmenter(phantom.mixed_ct_hu, phantom.spacing_mm), repeats, device)
    return {
        "volume_shape": list(phantom.shape),
        "spacing_mm": list(phantom.spacing_mm),
        "target_spacing_mm": list(config.target_spacing),
        "channels": list(config.channels),
        "patch_size": list(config.patch_size),
        **timing,
    }


def bench_pseudomri(device: torch.device, repeats: int, steps: int, n: int) -> dict[str, Any]:
    """Generate ``n`` 256 x 256 slices and report the time per slice."""
    config = PseudoMRIConfig()
    # The phantom needs at least 8 slices; take n from the middle of the neck.
    depth = max(8, 2 * n)
    ct = generate_cervical_case(seed=1, shape=(depth, 256, 256)).ct_hu[depth // 2 - n // 2 :][:n]
    generator = PseudoMRIGenerator(ConditionalDenoiser(config), config, device)
    timing = _timed(
        lambda: generator.generate_slices(ct, steps=steps, batch_size=n), repeats, device
    )
    return {
        "steps": steps,
        "slices": n,
        "block_out_channels": list(config.block_out_channels),
        **{key.replace("_s", "_per_slice_s"): value / n for key, value in timing.items()},
    }


def main() -> None:
    """Run the benchmarks, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slices", type=int, default=4, help="pseudo-MRI slices per batch")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    limit_threads(args.threads)
    seed_everything(0)
    device = select_device(args.device)
    default_steps = PseudoMRIConfig().inference_steps
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "ncctm": bench_ncctm(device, args.repeats),
        "pseudomri_default_steps": bench_pseudomri(
            device, args.repeats, default_steps, args.slices
        ),
        "pseudomri_50_steps": bench_pseudomri(device, 1, 50, args.slices),
    }
    targets = {"cpu": (10.0, 5.0), "cuda": (1.0, 0.2)}[device.type]
    rows = [
        ("NC-CTM 160x256x256 volume", results["ncctm"]["median_s"], targets[0]),
        (
            f"pseudo-MRI 256x256 slice, {default_steps} DDIM steps (default)",
            results["pseudomri_default_steps"]["median_per_slice_s"],
            targets[1],
        ),
        (
            "pseudo-MRI 256x256 slice, 50 DDIM steps",
            results["pseudomri_50_steps"]["median_per_slice_s"],
            None,
        ),
    ]
    print(f"device: {results['device']} ({results['threads']} threads)")
    print(f"{'measure':<50} {'seconds':>9} {'target':>8}")
    for name, seconds, target in rows:
        shown = f"<= {target:g}" if target is not None else "-"
        print(f"{name:<50} {seconds:>9.3f} {shown:>8}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
