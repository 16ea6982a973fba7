"""The KerasTuner backend's ask / tell over an oracle, with automl's trial numbers, retries and records."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from automl.backends import Backend, BackendOptions, SamplingFailed, TrialHandle
from automl.backends.kerastuner.driver import KerasTunerDriver, declare_space
from automl.backends.kerastuner.oracles import make_oracle, oracle_classes, oracle_seed, quiet
from automl.backends.kerastuner.state import STATE_FORMAT, pack_trials, plain, state_path, unpack_trials
from automl.errors import RunDirectoryError
from automl.io import atomic_write_json
from automl.leaderboard import is_finite_number
from automl.plugin_manager import Registry
from automl.search_space import Candidate, SearchSpace
from automl.trainer import COMPLETE, FAILED, PRUNED, NoPruning, TrialResult
from automl.trainer import INTERRUPTED as INTERRUPTED_STATUS

TUNER_ID = "automl"
INTERRUPTED = "interrupted (the process running it stopped)"


def open_run(options: BackendOptions) -> KerasTunerBackend:
    """The backend on the run directory's state file (KerasTuner has no shared storage)."""
    return KerasTunerBackend(options.run_dir, options.space, options.registry, options.task, sampler=options.sampler,
                             seed=options.seed, expected_trials=options.expected_trials,
                             max_retries=options.max_retries)


@dataclass
class KerasTunerTrial(TrialHandle):
    """Its reporter is NoPruning: KerasTuner has no per-epoch pruner (the trainer's early stopping still runs).
    Hyperband: ``continues`` is the trial a promotion trains on from, and ``may_be_continued`` marks a round
    that is not its bracket's last."""

    trial: Any = None  # keras_tuner.engine.trial.Trial


class KerasTunerBackend(Backend[KerasTunerTrial]):
    """Ask / tell over a KerasTuner oracle; state in ``RUN/kerastuner/state.json`` (see the module doc)."""

    def __init__(self, run_dir: Path, space: SearchSpace, registry: Registry, task: str, *,
                 sampler: str = "hyperband", seed: int = 0, expected_trials: int | None = None,
                 max_retries: int = 1) -> None:
        self.space, self.registry, self.task, self.sampler = space, registry, task, sampler
        self.max_retries = max_retries
        self.path = state_path(run_dir)
        self.bookkeeping_seconds = 0.0
        oracle_classes()  # imports KerasTuner (and TensorFlow): not bookkeeping
        started = time.perf_counter()
        self.oracle = make_oracle(sampler, space, seed, expected_trials)
        # automl's side of the books: one entry per asked trial, in number order.
        self.entries: list[dict[str, Any]] = []
        # KerasTuner trial id -> number of the interrupted run that its next run retries.
        self.pending_retries: dict[str, int] = {}
        if self.path.exists():
            self._load(seed)
        with quiet():
            self.oracle.update_space(declare_space(space, registry, task))
        self.bookkeeping_seconds += time.perf_counter() - started

    # --- storage ---------------------------------------------------------------------------------------
    def _load(self, seed: int) -> None:
        from keras_tuner.src.engine.trial import Trial

        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise RunDirectoryError(f"{self.path} is not a readable KerasTuner backend state ({exc}); "
                                    "use a new --out for a new search.") from None
        if state.get("format") != STATE_FORMAT or state.get("sampler") != self.sampler:
            raise RunDirectoryError(
                f"{self.path} holds format {state.get('format')!r} of sampler {state.get('sampler')!r}; this "
                f"search needs format {STATE_FORMAT} of sampler {self.sampler!r}. Use a new --out."
            )
        self.oracle.trials = {tid: Trial.from_state(trial)
                              for tid, trial in unpack_trials(state["hyperparameter_table"], state["trials"]).items()}
        self.oracle.set_state(state["oracle"])
        self.entries = state["automl"]["trials"]
        self.pending_retries = state["automl"]["pending_retries"]
        if self.sampler == "bayesian":
            import numpy as np

            # A resumed run gets a fresh optimizer seed, or it would replay the same restart points.
            self.oracle._random_state = np.random.RandomState(oracle_seed(seed) + len(self.entries))

    def _save(self) -> None:
        """One atomic write of everything: a kill at any moment leaves the previous or the new state."""
        table, trials = pack_trials(self.oracle.trials)
        atomic_write_json(self.path, {
            "format": STATE_FORMAT,
            "sampler": self.sampler,
            "oracle": self.oracle.get_state(),
            "hyperparameter_table": table,
            "trials": trials,
            "automl": {"trials": self.entries, "pending_retries": self.pending_retries},
        })

    # --- bookkeeping -----------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """One record per trial that has one (a running trial has none yet)."""
        return [e["record"] for e in self.entries if e["record"] is not None]

    def counts(self) -> tuple[int, int]:
        """(finished, running): finished trials count towards ``--trials``; a running one holds a slot."""
        finished = sum(1 for e in self.entries if (e["record"] or {}).get("status") in (COMPLETE, PRUNED))
        running = sum(1 for e in self.entries if e["record"] is None)
        return finished, running

    def finished_count(self) -> int:
        return self.counts()[0]

    def slot_lock(self) -> contextlib.AbstractContextManager:
        """Nothing to share: the oracle lives in the one search process that holds the run's lock."""
        return contextlib.nullcontext()

    def recover_interrupted(self) -> list[int]:
        """Fail trials a killed process left running and queue each for a retry (at most ``max_retries``).

        Only call this while holding the run's lock: then no live process can own a running trial.
        """
        running = [e["number"] for e in self.entries if e["record"] is None]
        return [number for number in running if self.fail_trial(number, INTERRUPTED, retry=True)]

    def fail_stale_trials(self) -> list[int]:
        """No heartbeats to miss: a KerasTuner run never shares its storage with other processes."""
        return []

    def fail_trial(self, number: int, reason: str, *, retry: bool, interrupted: bool = False) -> bool:
        """Fail running trial ``number``; if it has retries left, put its KerasTuner trial on the oracle's
        retry queue, so the next ask runs it again (under a new number) and its bracket stays whole.

        ``interrupted``: SIGINT or SIGTERM stopped it; its record says so and it is retried whatever
        ``max_retries`` says. Returns False when the trial is not running. KerasTuner's own ``reload`` would
        instead requeue every ongoing trial on every restart, without limit.
        """
        from keras_tuner.src.engine.trial import TrialStatus

        entry = self.entries[number] if 0 <= number < len(self.entries) else None
        if entry is None or entry["record"] is not None:
            return False
        root = entry["retry_of"] if entry["retry_of"] is not None else number
        entry["record"] = {"trial": number, "status": INTERRUPTED_STATUS if interrupted else FAILED,
                           "reason": reason, "retry_of": entry["retry_of"]}
        trial = self.oracle.trials[entry["trial_id"]]
        self._forget_ongoing(trial.trial_id)
        # Failures of this configuration so far, this one included; interruptions do not count.
        failures = sum(1 for e in self.entries if (e["number"] == root or e["retry_of"] == root)
                       and (e["record"] or {}).get("status") == FAILED)
        if retry and (interrupted or failures <= self.max_retries):
            self.oracle._retry_queue.append(trial.trial_id)
            self.pending_retries[trial.trial_id] = root
        else:
            trial.status, trial.message = TrialStatus.FAILED, reason
            with quiet():
                self.oracle.end_trial(trial)
        self._save()
        return True

    def _forget_ongoing(self, trial_id: str) -> None:
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            if trial.trial_id == trial_id:
                del self.oracle.ongoing_trials[tuner_id]

    # --- ask / tell ------------------------------------------------------------------------------------
    def ask(self) -> KerasTunerTrial:
        from keras_tuner.src.engine.trial import TrialStatus

        started = time.perf_counter()
        with quiet():
            trial = self.oracle.create_trial(TUNER_ID)
        if trial.status != TrialStatus.RUNNING:  # the overrides above make this unreachable
            raise RuntimeError(f"the KerasTuner {self.sampler} oracle returned a trial with status "
                               f"{trial.status!r}; expected RUNNING (it never stops on its own here).")
        number = len(self.entries)
        retry_of = self.pending_retries.pop(trial.trial_id, None)
        entry = {"number": number, "trial_id": trial.trial_id, "retry_of": retry_of, "record": None}
        self.entries.append(entry)
        try:
            candidate = self._candidate(trial)
        except Exception as exc:  # a plugin's space() raised: this trial fails, the search goes on
            reason = f"sampling failed: {type(exc).__name__}: {exc}"
            entry["record"] = {"trial": number, "status": FAILED, "reason": reason, "retry_of": retry_of}
            trial.status, trial.message = TrialStatus.FAILED, reason
            with quiet():
                self.oracle.end_trial(trial)
            self._save()
            self.bookkeeping_seconds += time.perf_counter() - started
            raise SamplingFailed(number, reason) from exc
        self._save()
        self.bookkeeping_seconds += time.perf_counter() - started
        values = trial.hyperparameters.values
        return KerasTunerTrial(number, candidate, NoPruning(), retry_of, trial=trial,
                               continues=self._completed_number(values.get("tuner/trial_id")),
                               may_be_continued=values.get("tuner/round", 0) < values.get("tuner/bracket", 0))

    def _completed_number(self, trial_id: str | None) -> int | None:
        """The number of the completed run of KerasTuner trial ``trial_id`` (a promotion's source)."""
        runs = [e["number"] for e in self.entries if e["trial_id"] == trial_id
                and (e["record"] or {}).get("status") == COMPLETE]
        return runs[-1] if trial_id is not None and runs else None

    def _candidate(self, trial: Any) -> Candidate:
        candidate = self.space.sample(KerasTunerDriver(trial.hyperparameters), self.registry, self.task)
        params = {k: plain(v) for k, v in candidate.params.items()}
        budget = trial.hyperparameters.values.get("tuner/epochs")
        if budget is not None:  # Hyperband: this bracket's epoch budget (a promotion continues: see ask)
            return replace(candidate, params=params, max_epochs=int(budget))
        return replace(candidate, params=params)

    def tell(self, handle: KerasTunerTrial, result: TrialResult, record: dict[str, Any]) -> None:
        from keras_tuner.src.engine.trial import TrialStatus

        started = time.perf_counter()
        self.entries[handle.number]["record"] = record
        trial = handle.trial
        if result.status in (COMPLETE, PRUNED) and is_finite_number(result.objective):
            self.oracle.update_trial(trial.trial_id, {self.space.objective: float(result.objective)},
                                     step=max(result.best_epoch - 1, 0))
            trial.status = TrialStatus.COMPLETED
        else:
            trial.status, trial.message = TrialStatus.FAILED, result.reason or "no finite objective"
        with quiet():
            self.oracle.end_trial(trial)
        self._save()
        self.bookkeeping_seconds += time.perf_counter() - started
