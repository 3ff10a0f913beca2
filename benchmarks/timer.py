"""Interleaved timing of commands (A B A B ...), and the peak memory of a process tree.

    python benchmarks/timer.py [--runs N] [--warmup K] [--allow-exit E] 'COMMAND A' 'COMMAND B'

prints each command's median wall time and the median of the per-round ratios A/B. Taking
turns keeps a ratio honest on a shared, noisy machine: a slow minute slows both sides of
a round. Quote the median ratio, not a single absolute time. Commands are split like a
shell would (shlex) but run without one, so no shell's start-up is added to either side.

Memory (`run(..., memory=True)`): the largest sum of resident memory over the process and
all its descendants (workers included), sampled from /proc while it runs, and never less
than the kernel's own peak of the largest single process (wait4's ru_maxrss, which is what
getrusage(RUSAGE_CHILDREN) reports: a maximum over processes, not a sum).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_S = 0.01  # seconds between two samples of a process tree's memory
RESCAN_S = 0.25  # seconds between two look-ups of the processes in the tree


class CommandFailed(RuntimeError):
    def __init__(self, argv: Sequence[str], code: int, stderr: str):
        super().__init__(f"command failed ({code}): {shlex.join(argv)}\n{stderr[-2000:]}")
        self.argv, self.code, self.stderr = list(argv), code, stderr


@dataclass
class Run:
    seconds: float
    returncode: int
    stderr: str
    peak_bytes: int = 0  # 0: not measured


def tree(root: int) -> list[int]:
    """`root` and every process below it (from the parent ids in /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:  # gone meanwhile
            continue
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])  # field 4, after "pid (comm) "
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss(pid: int) -> int:
    """Resident bytes of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class _TreeSampler(threading.Thread):
    """The largest sum of resident memory over a process tree, sampled every SAMPLE_S;
    the tree itself (a scan of all of /proc, about 1 ms) is looked up every RESCAN_S, so
    that sampling costs the machine well under 1 % of a CPU."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.done = root, 0, threading.Event()

    def run(self) -> None:
        pids, scanned = [self.root], 0.0
        while not self.done.is_set():
            now = time.monotonic()
            if now - scanned >= RESCAN_S:
                pids, scanned = tree(self.root), now
            self.peak = max(self.peak, sum(rss(pid) for pid in pids))
            self.done.wait(SAMPLE_S)


def run(argv: Sequence[str], *, memory: bool = False, allow_exit: int = 0) -> Run:
    """Run argv once (stdout to /dev/null), timed; raise CommandFailed on an exit status
    above allow_exit."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
        sampler = _TreeSampler(process.pid) if memory else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        peak = 0
        if sampler:
            sampler.done.set()
            sampler.join()
            peak = max(sampler.peak, usage.ru_maxrss * 1024)
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    if not 0 <= process.returncode <= allow_exit:
        raise CommandFailed(argv, process.returncode, stderr)
    return Run(seconds, process.returncode, stderr, peak)


def interleave(
    commands: Sequence[Sequence[str]],
    runs: int,
    *,
    warmup: int = 1,
    memory: Sequence[bool] = (),
    allow_exit: int = 0,
) -> list[list[Run]]:
    """Each command once per round, in order, for `warmup` rounds (discarded) and then
    `runs` rounds; the runs of each command, round by round."""
    memory = list(memory) + [False] * (len(commands) - len(memory))
    for _ in range(warmup):
        for argv in commands:
            run(argv, allow_exit=allow_exit)
    timed: list[list[Run]] = [[] for _ in commands]
    for _ in range(runs):
        for argv, runs_of, mem in zip(commands, timed, memory, strict=True):
            runs_of.append(run(argv, memory=mem, allow_exit=allow_exit))
    return timed


def median_ratio(a: Sequence[Run], b: Sequence[Run]) -> float:
    """The median over rounds of a's time / b's time in the same round."""
    return statistics.median(x.seconds / y.seconds for x, y in zip(a, b, strict=True))


def median_seconds(runs: Sequence[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--allow-exit", type=int, default=0, help="highest exit status accepted")
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args()
    commands = [shlex.split(args.a), shlex.split(args.b)]
    try:
        a, b = interleave(commands, args.runs, warmup=args.warmup, allow_exit=args.allow_exit)
    except CommandFailed as exc:
        sys.exit(str(exc))
    for name, runs in (("A", a), ("B", b)):
        seconds = [r.seconds for r in runs]
        print(
            f"{name} median {statistics.median(seconds):.4f} s"
            f"  (min {min(seconds):.4f}, max {max(seconds):.4f})"
        )
    print(f"ratio A/B median {median_ratio(a, b):.3f}")


if __name__ == "__main__":
    main()
