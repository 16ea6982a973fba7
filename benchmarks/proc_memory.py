"""The memory of a whole process tree on Linux, sampled from ``/proc`` (no psutil).

A search is a tree of processes (the ``automl search`` parent, its worker processes, their helpers), and
what a user's machine must hold is the tree's memory, not one process's. Every ``interval`` seconds the
sampler lists the root's descendants (the parent of every process, from ``/proc/*/stat``) and sums over
the tree, from ``/proc/PID/smaps_rollup``:

* ``Pss``, the proportional set size: each resident page divided by the number of processes mapping it,
  so a page shared by two workers (a memory-mapped image cache, the same shared libraries) counts once in
  the sum. This is the figure to compare with the machine's memory;
* ``Rss`` beside it: every resident page counted in every process that maps it (the sum overstates the
  tree's memory by what is shared; ``rss - pss`` shows how much sharing there is).

With ``watch=("pixels.npy",)`` it also notes which processes of the tree memory-map a file of that name
(looked for every 2 s and at each new peak, in ``/proc/PID/maps``).

It keeps the peaks (and the tree's processes at the PSS peak) and the largest process count; processes that
exit between the listing and the read are skipped. The sampler's own process is not part of the tree::

    from proc_memory import TreeSampler, run_sampled

    with TreeSampler(proc.pid) as sampler:   # a thread sampling until the block ends
        proc.wait()
    print(sampler.peaks())

    measured = run_sampled([sys.executable, "-m", "automl", "search", ...], env=env)
    measured.returncode, measured.peaks["pss_gb"], measured.seconds, measured.output_tail

    python benchmarks/proc_memory.py -- COMMAND ARGS...   # run a command and print its tree's peaks
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROC = Path("/proc")
GB = 1e9


def parents() -> dict[int, int]:
    """pid → parent pid of every process now visible in /proc."""
    found = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (PROC / entry.name / "stat").read_bytes()
        except OSError:  # gone since the listing (or not ours to read)
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) >= 2:
            found[int(entry.name)] = int(rest[1])
    return found


def tree(root: int) -> list[int]:
    """`root` and all its descendants alive now (root first); empty once `root` itself is gone."""
    table = parents()
    if root not in table:
        return []
    children: dict[int, list[int]] = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def memory(pid: int) -> tuple[int, int] | None:
    """(Pss, Rss) of one process in bytes, or None when it is gone, a zombie, or not readable."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except FileNotFoundError:
        return _memory_from_smaps(pid)  # a kernel before 4.14, or the process is gone
    except (OSError, ValueError):
        return None
    return _pss_rss(text)


def _memory_from_smaps(pid: int) -> tuple[int, int] | None:
    try:
        return _pss_rss((PROC / str(pid) / "smaps").read_text())
    except (OSError, ValueError):
        return None


def _pss_rss(text: str) -> tuple[int, int] | None:
    pss = rss = 0
    seen = False
    for line in text.splitlines():
        if line.startswith("Pss:"):
            pss += int(line.split()[1]) * 1024
            seen = True
        elif line.startswith("Rss:"):
            rss += int(line.split()[1]) * 1024
    return (pss, rss) if seen else None  # a zombie's rollup is empty


def mapped(pid: int, names: Sequence[str]) -> list[str]:
    """The files whose name is one of `names` that process `pid` has memory-mapped now."""
    try:
        text = (PROC / str(pid) / "maps").read_text()
    except OSError:
        return []
    found = set()
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        path = fields[5].strip() if len(fields) == 6 else ""
        if path.rsplit("/", 1)[-1] in names:
            found.add(path)
    return sorted(found)


def command_name(pid: int) -> str:
    try:
        words = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        return " ".join(w.decode(errors="replace") for w in words if w)[:160]
    except OSError:
        return "?"


@dataclass
class Sample:
    seconds: float  # since the sampler started
    pss: int
    rss: int
    processes: int


class TreeSampler:
    """A thread summing the PSS and RSS of `root`'s process tree every `interval` s, keeping the peaks.

    Use it as a context manager (or `start` / `stop`); `peaks()` is safe to call at any time. Sampling ends
    by itself when the root exits.
    """

    def __init__(self, root: int, interval: float = 0.2, watch: Sequence[str] = (), watch_every: float = 2.0) -> None:
        self.root, self.interval = root, interval
        # File names (e.g. "pixels.npy") whose mappings are looked for every `watch_every` s and at each new peak:
        # which processes of the tree ever mapped them (a cache read through a memory map, not copied).
        self.watch, self.watch_every = tuple(watch), watch_every
        self.mapping: dict[int, dict[str, Any]] = {}
        self._watched = float("-inf")
        self.samples: list[Sample] = []
        self.peak_pss = self.peak_rss = self.peak_processes = 0
        self.at_peak: list[dict[str, Any]] = []  # the tree's processes when the PSS sum peaked
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-memory-sampler", daemon=True)
        self._started = 0.0

    def start(self) -> TreeSampler:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.peaks()

    def __enter__(self) -> TreeSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sample_once(self) -> Sample | None:
        """One sample of the tree now (also used by the thread); None when the root is gone."""
        pids = tree(self.root)
        if not pids:
            return None
        pss = rss = alive = 0
        parts = []
        for pid in pids:
            found = memory(pid)
            if found is None:
                continue  # exited since the listing
            alive += 1
            pss += found[0]
            rss += found[1]
            parts.append((pid, found))
        sample = Sample(time.perf_counter() - self._started, pss, rss, alive)
        self.samples.append(sample)
        if self.watch and (pss > self.peak_pss or sample.seconds - self._watched >= self.watch_every):
            self._watched = sample.seconds
            for pid, _ in parts:
                files = mapped(pid, self.watch)
                if files and pid not in self.mapping:
                    self.mapping[pid] = {"command": command_name(pid), "files": files,
                                         "first_seen_s": round(sample.seconds, 1)}
        if pss > self.peak_pss:
            self.peak_pss = pss
            self.at_peak = [{"pid": pid, "pss_mb": round(p / 1e6, 1), "rss_mb": round(r / 1e6, 1),
                             "command": command_name(pid)} for pid, (p, r) in parts]
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, alive)
        return sample

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            if self.sample_once() is None:
                break
            self._stop.wait(max(0.0, self.interval - (time.perf_counter() - started)))

    def peaks(self) -> dict[str, Any]:
        return {"pss_gb": round(self.peak_pss / GB, 4), "rss_gb": round(self.peak_rss / GB, 4),
                "processes": self.peak_processes, "samples": len(self.samples), "interval_s": self.interval,
                "at_pss_peak": self.at_peak,
                **({"mapped_by": list(self.mapping.values())} if self.watch else {})}

    def timeline(self, points: int = 120) -> list[list[float]]:
        """At most `points` samples as [seconds, pss GB, rss GB, processes], evenly spaced over the run."""
        step = max(1, -(-len(self.samples) // points))
        return [[round(s.seconds, 1), round(s.pss / GB, 4), round(s.rss / GB, 4), s.processes]
                for s in self.samples[::step]]


@dataclass
class Measured:
    returncode: int  # -9 etc. when killed by a signal; None never (a timed-out command is killed)
    peaks: dict[str, Any]
    seconds: float
    output_tail: str
    timed_out: bool = False
    timeline: list = field(default_factory=list)


def run_sampled(command: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                interval: float = 0.2, timeout: float | None = None, tail_chars: int = 4000,
                watch: Sequence[str] = ()) -> Measured:
    """Run `command` (stdout and stderr together into a file, never a pipe that could fill) under a sampler.

    The command runs in a new session; past `timeout` seconds its whole process group is killed.
    """
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        proc = subprocess.Popen(list(map(str, command)), env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = False
        with TreeSampler(proc.pid, interval, watch) as sampler:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
        seconds = time.perf_counter() - started
        _kill_group(proc, only_leftovers=True)
        output.seek(0, os.SEEK_END)
        size = output.tell()
        output.seek(max(0, size - tail_chars * 4))
        tail = output.read().decode(errors="replace")[-tail_chars:]
    return Measured(proc.returncode, sampler.peaks(), seconds, tail, timed_out, sampler.timeline())


def _kill_group(proc: subprocess.Popen, only_leftovers: bool = False) -> None:
    """Kill the process group this module started for `proc` (its own session: nothing else is in it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    if not only_leftovers:
        proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print("usage: python benchmarks/proc_memory.py -- COMMAND ARGS...", file=sys.stderr)
        return 2
    measured = run_sampled(args)
    print(measured.output_tail, end="")
    print(json.dumps({"returncode": measured.returncode, "seconds": round(measured.seconds, 2),
                      **{k: v for k, v in measured.peaks.items() if k != "at_pss_peak"}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
