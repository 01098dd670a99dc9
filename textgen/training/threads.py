"""How many threads torch computes with, chosen by measuring how busy the machine is.

torch starts one thread per core. Beside other work that oversubscribes the cores, and its
threads then wait on each other: on a 2-core machine with one core busy, `textgen experiment
doug` took 52 s with torch's two threads against 4.1 s with one, and a training step ran a
hundred times slower (BENCHMARKS.md). So a long command first looks at the machine for a quarter
of a second (the share of CPU time the cores spent idle, from /proc/stat) and takes as many
threads as there are idle cores, at least one and at most torch's own count. OMP_NUM_THREADS,
where set, wins; a machine without /proc/stat keeps torch's count.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SAMPLE_SECONDS = 0.25


def _cpu_times() -> tuple[float, float]:
    """(idle, total) jiffies of all cores together, from the first line of /proc/stat."""
    values = [float(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return values[3] + (values[4] if len(values) > 4 else 0.0), sum(values[:8])


def idle_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many cores sat idle over the next `seconds` (None where /proc/stat cannot be read)."""
    try:
        idle, total = _cpu_times()
        time.sleep(seconds)
        idle2, total2 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    if total2 <= total:
        return None
    return (idle2 - idle) / (total2 - total) * (os.cpu_count() or 1)


def choose_threads() -> tuple[int, str]:
    """Set torch's thread count by the rule above; returns the count and why, for a line of the output."""
    import torch

    default = torch.get_num_threads()
    if os.environ.get("OMP_NUM_THREADS"):
        return default, "OMP_NUM_THREADS"
    idle = idle_cores()
    if idle is None:
        return default, "torch's default"
    threads = max(1, min(default, int(idle + 0.5)))
    if threads != default:
        torch.set_num_threads(threads)
        return threads, f"{default - threads} of {default} cores are busy with other work"
    return threads, "the cores are idle"
