"""Shared pieces of the benchmarks: inputs, interleaved timing, peak memory in a child process.

Why interleaved: the CPU machines these run on are shared, so the load changes from minute to
minute. Timing model A for a minute and then model B would measure the neighbours as much as
the models. Every run therefore times each variant once, in an order that rotates from run to
run, and the ratios come from the same minutes.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


@dataclass
class Stats:
    """Seconds of repeated runs of one variant: wall clock and CPU time of this process.

    CPU time (all threads) is the steadier figure on a shared machine: waiting for a core
    that a neighbour holds does not count, so with ``--threads 1`` it is close to the cost of
    the work itself. Wall clock is what a user waits.
    """

    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    def spread(self) -> str:
        """``min-max`` of the runs, the honest spread with 3-5 runs (no std of 3 numbers)."""
        if not self.times:
            return "-"
        return f"{min(self.times):.2f}-{max(self.times):.2f}"


def interleaved(
    tasks: dict[str, Callable[[], object]],
    runs: int,
    warmup: int,
    sync: Callable[[], None] = lambda: None,
    log: Callable[[str], None] = print,
) -> dict[str, Stats]:
    """Time every task ``runs`` times, one of each per round, the order rotating per round."""
    names = list(tasks)
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    sync()
    stats = {name: Stats() for name in names}
    for r in range(runs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            sync()
            start, cpu = time.perf_counter(), time.process_time()
            tasks[name]()
            sync()
            stats[name].times.append(time.perf_counter() - start)
            stats[name].cpu.append(time.process_time() - cpu)
            log(
                f"  run {r + 1}/{runs} {name}: {stats[name].times[-1]:.2f} s "
                f"(CPU {stats[name].cpu[-1]:.2f} s)"
            )
    return stats


def phantom_sample(size: int, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A synthetic mammogram (1xSxS in [0, 1]) with two masses and the model's target dict."""
    from mammorcnn.data.synthetic.phantom import make_phantom

    rng = np.random.default_rng(seed)
    image, masks, _ = make_phantom(rng, size, n_masses=2, size_range=(0.08, 0.15))
    boxes = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.ones(len(masks), dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(masks).astype(np.uint8))
        if masks
        else torch.zeros((0, size, size), dtype=torch.uint8),
    }
    return torch.from_numpy(image.astype(np.float32) / 65535.0)[None], target


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- peak memory -------------------------------------------------------------------------------
# tracemalloc does not see torch's allocations (they bypass Python's allocator), so peak memory
# is read from the kernel: the child process builds the model and its input, resets its RSS
# high-water mark (writing 5 to /proc/self/clear_refs), runs the measured call twice and reads
# VmHWM. Where clear_refs is not writable it falls back to getrusage's ru_maxrss, which then also
# counts the build's transients. One fresh process per measurement, so nothing leaks between them.


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark of this process; False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib(run: Callable[[], object]) -> dict[str, float]:
    """Run ``run`` twice; RSS before it and the high-water mark during it, in MiB."""
    import resource

    before = _status_kib("VmRSS")
    exact = reset_peak_rss()
    for _ in range(2):
        run()
    if exact:
        peak = _status_kib("VmHWM")
    else:  # ru_maxrss: KiB on Linux, the high-water mark since the process started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_before_mib": before / 1024, "peak_mib": peak / 1024, "exact": exact}


def measure_in_child(script: str, args: Sequence[str]) -> dict:
    """Run ``script --_memory_child ...`` in a fresh interpreter; its last stdout line is JSON."""
    out = subprocess.run(
        [sys.executable, script, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def machine_line(threads: int) -> str:
    """What the figures were measured on, for the table header."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return (
        f"{cpu}, {os.cpu_count()} logical CPUs visible, {threads} torch threads, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
