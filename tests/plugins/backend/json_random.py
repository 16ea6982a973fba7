"""A third-party search backend, written only against automl's public plugin API: ``--backend json_random``.

It samples every candidate at random (:class:`automl.hp.RandomDriver`) and keeps its trials in one JSON file
in the run directory, rewritten atomically after every change. It shows what a backend author writes: a
:class:`automl.SearchBackend` plugin registered on ``automl_register_backends``, and the
:class:`automl.Backend` it opens on a run, with its own trial handle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from automl import Backend, BackendOptions, SearchBackend, TrialHandle, hookimpl
from automl.hp import FixedDriver, RandomDriver, RecordingDriver
from automl.io import atomic_write_json
from automl.trainer import COMPLETE, PRUNED, NoPruning

STATE_FILE = "json_random.json"
RUNNING, FAILED, INTERRUPTED = "running", "failed", "interrupted"


class JsonRandom(SearchBackend):
    name = "json_random"
    description = "Random sampling, trials in one JSON file (a test backend)."
    samplers = ("random",)

    def open(self, options: BackendOptions) -> Backend[Any]:
        return JsonRandomBackend(options)

    def read_records(self, run_dir: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
        return [t["record"] for t in _load(Path(run_dir) / STATE_FILE)["trials"] if t.get("record")]

    def records_source(self, run_dir: Path, config: dict[str, Any]) -> str:
        return str(Path(run_dir) / STATE_FILE)


@dataclass
class JsonTrial(TrialHandle):
    params: dict[str, Any] | None = None


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"trials": [], "queue": []}


class JsonRandomBackend(Backend[JsonTrial]):
    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        self.path = options.run_dir / STATE_FILE
        self.state = _load(self.path)
        self.lock = FileLock(str(self.path) + ".lock")

    def _save(self) -> None:
        atomic_write_json(self.path, self.state)

    def _sample(self, number: int, params: dict[str, Any] | None) -> JsonTrial:
        """A new random candidate, or (a retry) the one ``params`` recorded."""
        opts = self.options
        if params is None:
            driver = RecordingDriver(RandomDriver(opts.seed * 7919 + number))
        else:
            driver = RecordingDriver(FixedDriver(params, fill_defaults=True, check=False))
        candidate = opts.space.sample(driver, opts.registry, opts.task)
        return JsonTrial(number, candidate, NoPruning(), params=driver.sampled)

    def ask(self) -> JsonTrial:
        number = len(self.state["trials"])
        queued = self.state["queue"].pop(0) if self.state["queue"] else None
        handle = self._sample(number, queued["params"] if queued else None)
        handle.retry_of = queued["retry_of"] if queued else None
        self.state["trials"].append({"number": number, "status": RUNNING, "params": handle.params, "record": None,
                                     "retry_of": handle.retry_of})
        self._save()
        return handle

    def tell(self, handle: JsonTrial, result: Any, record: dict[str, Any]) -> None:
        entry = self.state["trials"][handle.number]
        entry.update(status=result.status, record=record)
        self._save()

    def records(self) -> list[dict[str, Any]]:
        return [t["record"] for t in self.state["trials"] if t.get("record")]

    def counts(self) -> tuple[int, int]:
        statuses = [t["status"] for t in self.state["trials"]]
        return sum(s in (COMPLETE, PRUNED) for s in statuses), statuses.count(RUNNING)

    def finished_count(self) -> int:
        return self.counts()[0]

    def slot_lock(self) -> FileLock:
        return self.lock

    def fail_trial(self, number: int, reason: str, *, retry: bool, interrupted: bool = False) -> bool:
        entry = self.state["trials"][number]
        if entry["status"] != RUNNING:
            return False
        status = INTERRUPTED if interrupted else FAILED
        entry.update(status=status, record={"trial": number, "status": status, "reason": reason,
                                            "retry_of": entry["retry_of"]})
        root = entry["retry_of"] if entry["retry_of"] is not None else number
        failures = sum(1 for t in self.state["trials"]
                       if (t["number"] == root or t["retry_of"] == root) and t["status"] == FAILED)
        if retry and (interrupted or failures <= self.options.max_retries):
            self.state["queue"].append({"params": entry["params"], "retry_of": root})
        self._save()
        return True

    def recover_interrupted(self) -> list[int]:
        running = [t["number"] for t in self.state["trials"] if t["status"] == RUNNING]
        return [n for n in running if self.fail_trial(n, "interrupted (the process running it stopped)", retry=True)]


@hookimpl
def automl_register_backends():
    return [JsonRandom()]
