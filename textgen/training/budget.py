"""--max-time bounds the whole command, not only its training steps.

A time-bounded run (`--max-time` without `--max-steps`) has this invocation's share of the
budget (the budget less what earlier invocations trained) from the moment the command started:
start-up (reading the corpus, the tokenizer, the token cache), training with its validations,
the last validation and save, and the choice of the neural cache's settings all come out of it.
Training stops early enough to leave:
- the last checkpoint's time (validation, saving the weights and the model directory): planned
  as FINISH_SHARE of the budget until a checkpoint has been timed, then that time with a margin;
- the neural cache's search: CACHE_SHARE of the budget until a validation has been timed, then at
  most CACHE_PER_VALIDATION times the slowest validation (the search reads the same text as a
  validation, once per setting of its grid); it then takes what is left and scales itself to it
  (textgen.model.neural_cache.tune_cache), or is skipped with a note;
- EXIT_SECONDS for the process to end (unloading torch and Lightning takes most of a second).
The learning-rate schedule follows the budget: it starts where earlier invocations left the run
(the budget they spent, whole commands) and reaches its floor where training is planned to stop
(the budget less this start-up and the two shares), so a run still ends at the bottom of its
schedule, and a resumed one goes on from where its clock stood.

The clock starts when the `textgen` process started (Linux: read from /proc, so Python's and
textgen's own imports count), when the `textgen train` command body began where the process
started long before (a test runner calling the command) or, for a library call, when `train` is
called (its `started`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

FINISH_SHARE = 0.03  # of the budget: the last validation and save, until a checkpoint has been timed
FINISH_MARGIN = 1.5  # times the slowest checkpoint timed so far
CACHE_SHARE = 0.05  # of the budget: the neural cache's search after training, until a validation has been timed
# the search took 9.1, 11.4 and 14.8 times a validation pass of the same model on the same text (a 1 x 384 and a
# 1 x 512 classics model, the shipped model on TinyStories; BENCHMARKS.md, issue 35): kept with a margin, plus a floor
CACHE_PER_VALIDATION = 20.0
CACHE_FLOOR = 2.0
EXIT_SECONDS = 1.0  # the process's exit (torch and Lightning unloading: 0.85 s measured), at most EXIT_SHARE of the budget
EXIT_SHARE = 0.02

_process_start: float | None = None  # set by the console entry point (textgen.cli.main)


def mark_process_start() -> None:
    """The console command starts: its clock is the process's own (textgen.cli.main calls this)."""
    global _process_start
    _process_start = process_started()


def command_started() -> float:
    """When a command's time budget starts: the process's start where the console entry point marked
    it (a `textgen` command), else now (a command called inside a longer-lived process)."""
    return _process_start if _process_start is not None else time.perf_counter()


def process_started() -> float:
    """A time.perf_counter() reading of when this process started (Linux: /proc; elsewhere: now)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        age = float(Path("/proc/uptime").read_text().split()[0]) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter()
    return time.perf_counter() - min(max(0.0, age), 60.0)  # a clock that disagrees wildly is not trusted past a minute


@dataclass
class Budget:
    """One invocation's wall-clock budget: `deadline` (a time.perf_counter() reading) by which the
    command is done, `seconds` its length, `cache` the seconds kept for the neural cache's search
    (0 when none runs) and `finish` those kept for the last checkpoint."""

    deadline: float
    seconds: float
    cache: float
    finish: float
    spent_before: float = 0.0  # the run's budget earlier invocations spent
    slowest: float = 0.0  # the slowest checkpoint timed so far
    slowest_validation: float = 0.0  # the slowest validation timed so far

    @classmethod
    def plan(cls, seconds: float, started: float, cache_search: bool, spent_before: float = 0.0) -> Budget:
        """The budget of an invocation with `seconds` to spend from `started` (`spent_before`: by earlier ones)."""
        end = started + seconds - min(EXIT_SECONDS, EXIT_SHARE * seconds)  # the process's own exit comes after
        return cls(end, seconds, CACHE_SHARE * seconds if cache_search else 0.0, FINISH_SHARE * seconds, spent_before)

    def training_until(self) -> float:
        """The time training stops: what is kept for the finish and the cache comes after it."""
        return self.deadline - self.finish - self.cache

    def timed_checkpoint(self, seconds: float) -> None:
        """A checkpoint took `seconds`: keep the slowest so far (with a margin) for the last one."""
        self.slowest = max(self.slowest, seconds)
        self.finish = max(FINISH_MARGIN * self.slowest, 0.5)

    def timed_validation(self, seconds: float) -> float:
        """A validation took `seconds`: the cache's search is kept at CACHE_PER_VALIDATION times the
        slowest so far (never more than its share of the budget). Returns the seconds this gives back
        to training (0 where nothing changed), by which the schedule may be longer."""
        self.slowest_validation = max(self.slowest_validation, seconds)
        if not self.cache:
            return 0.0
        kept = min(self.cache, CACHE_PER_VALIDATION * self.slowest_validation + CACHE_FLOOR)
        given, self.cache = self.cache - kept, kept
        return given

    def left(self, now: float | None = None) -> float:
        return self.deadline - (time.perf_counter() if now is None else now)
