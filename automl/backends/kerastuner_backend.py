"""The KerasTuner backend: KerasTuner's oracles sample the candidates, automl trains and keeps the books.

KerasTuner's ``Tuner.search`` owns the training loop, so this backend talks to an *oracle* directly
(``create_trial`` / ``update_trial`` / ``end_trial``, the ask/tell half of KerasTuner) and the trial is
trained by :func:`automl.trainer.train_candidate` exactly as under Optuna. What KerasTuner lacks or does
differently is closed here, so that nothing downstream can tell which backend ran:

* **Storage.** KerasTuner writes ``oracle.json`` and one ``trial_*/trial.json`` per trial, each in place
  and at different moments: a SIGKILL can leave a truncated file or an oracle that disagrees with its
  trials. Here the oracle's state, every KerasTuner trial and automl's own trial records are one JSON
  document, ``RUN/kerastuner/state.json``, replaced atomically after every ask and every tell; the oracle's
  own ``save`` writes nothing. :func:`read_records` reads only that file.
* **Trial numbers.** automl numbers trials 0, 1, 2… in the order they are asked. A KerasTuner trial id
  can be run more than once (an interrupted trial is retried under its id), so each run of it gets its
  own number; a retry's record carries ``retry_of`` = the interrupted number.
* **Resume.** A trial that was running when the process died is failed (reason "interrupted") and put on
  the oracle's retry queue, at most ``max_retries`` times (``--max-retries``, default 1); a retry that dies
  when none are left is failed for good. KerasTuner's own ``reload`` would retry it after every kill.
* **Failures.** KerasTuner stops the whole search after ``max_consecutive_failed_trials`` (3) failures in
  a row; that check is switched off here because the engine owns the limit (``--max-consecutive-failures``).
  Failed trials (sampling failure, NaN loss, exceptions) are ended as FAILED, which the oracles skip.
* **Exhaustion.** Random and Bayesian oracles get no ``max_trials`` (the engine decides when to stop),
  Hyperband starts a new iteration when its brackets are used up, and when 20 random draws in a row
  repeat earlier trials (a small or fixed space) a repeat is allowed, as Optuna would sample one.
* **Leaderboard.** KerasTuner has none; the records are those the engine builds for every backend.
* **Choices.** KerasTuner's ``Choice`` returns ``[False, True]`` as ``0`` / ``1`` and refuses options of
  mixed types (``[None, 3]``); :class:`automl.hp.KerasTunerDriver` declares the latter by key and always
  answers with the declared option, so the records hold the plugin's own values.

Hyperband (KerasTuner's bracket scheduler, not a pruner) gives each trial an epoch budget,
``hyperparameters["tuner/epochs"]``; the candidate is trained with ``max_epochs`` = that budget (early
stopping still runs), so the brackets show in the leaderboard's ``epochs`` column. A promoted trial is a
new automl trial that **continues** from the best weights of the trial it was promoted from, as
KerasTuner's own Hyperband does: the handle names that trial (``continues``), the runner keeps the weights
of every trial that may be promoted (``may_be_continued``, under ``RUN/checkpoints/warm/``) and the trainer
trains on from its epoch count with a fresh optimizer. Where those weights are missing (a run directory
from before, or a failed save) the promotion is trained from scratch instead.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from automl.backends import SAMPLERS as _SAMPLERS
from automl.backends import Backend, SamplingFailed
from automl.errors import ConfigError, RunDirectoryError
from automl.hp import Driver, FixedParam, KerasTunerDriver, Param
from automl.io import atomic_write_json
from automl.leaderboard import is_finite_number
from automl.plugin import FAMILIES
from automl.plugin_manager import Registry
from automl.search_space import Candidate, SearchSpace
from automl.trainer import COMPLETE, FAILED, PRUNED, NoPruning, TrialResult
from automl.trainer import INTERRUPTED as INTERRUPTED_STATUS

STORAGE_DIR = "kerastuner"
STATE_FILE = "state.json"
STATE_FORMAT = 1
TUNER_ID = "automl"
SAMPLERS = _SAMPLERS["kerastuner"]
HYPERBAND_FACTOR = 3
INTERRUPTED = "interrupted (the process running it stopped)"


def state_path(run_dir: Path) -> Path:
    return Path(run_dir) / STORAGE_DIR / STATE_FILE


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    """The trial records of a run (finished or still running), read without opening it for writing."""
    path = state_path(run_dir)
    if not path.exists():
        return []  # the search has not asked for its first trial yet
    state = json.loads(path.read_text())
    return [entry["record"] for entry in state["automl"]["trials"] if entry.get("record") is not None]


def oracle_seed(seed: int) -> int:
    """KerasTuner treats seed 0 as 'no seed' (``seed or random.randint(...)``) and seeds parameter ``i`` of
    a run with ``seed + i``, so runs with seeds 0 and 1 would draw the same values shifted by one.
    Spreading the seeds far apart (and never 0) gives every ``--seed`` its own stream."""
    return 1 + (seed * 1_000_003) % (2**31 - 2)


def startup_trials(expected_trials: int | None) -> int:
    """Random trials before the Bayesian oracle fits its Gaussian process: the rule of Optuna's TPE here.
    (KerasTuner's default, three per dimension, would leave a small search purely random.)"""
    return 10 if expected_trials is None else min(10, max(4, expected_trials // 3))


def hyperband_brackets(max_epochs: int, expected_trials: int | None) -> int | None:
    """How many Hyperband brackets to use: the most whose first (most aggressive) bracket — its start-up
    trials and all their promotions — fits in the trials asked for, so a short search still shows every
    rung of it. None (all of KerasTuner's brackets) when the search is bounded by time only."""
    if expected_trials is None:
        return None
    full, epochs = 0, float(max_epochs)
    while epochs >= 1:  # KerasTuner's own count with min_epochs = 1
        epochs /= HYPERBAND_FACTOR
        full += 1
    end_size = math.ceil(1 + math.log(max_epochs, HYPERBAND_FACTOR))
    for brackets in range(full, 1, -1):
        top = brackets - 1
        size = sum(math.ceil(end_size / (top + 1) * HYPERBAND_FACTOR ** (top - r)) for r in range(top + 1))
        if size <= expected_trials:
            return brackets
    return 1


# --- oracles ---------------------------------------------------------------------------------------------
@functools.cache
def _oracle_classes() -> dict[str, type]:
    """KerasTuner's oracles with automl's storage and failure handling (made on first use: lazy import)."""
    import keras_tuner as kt
    from keras_tuner.src.engine.trial import TrialStatus

    class AutomlOracle:
        """Mixed into each oracle: automl stores the state, and the engine owns the failure limit."""

        def save(self) -> None:
            """No file of KerasTuner's own: the backend writes the whole state atomically after each call."""

        def _save_trial(self, trial) -> None:
            """As :meth:`save`."""

        def _check_consecutive_failures(self) -> None:
            """KerasTuner raises after 3 failed trials in a row; automl's engine has its own limit."""

        def _random_values(self):
            values = super()._random_values()
            if values is None:
                # 20 draws in a row repeated earlier trials: the space is (nearly) exhausted. KerasTuner
                # would stop the search; sample once more allowing a repeat (it trains with a new seed).
                tried, self._tried_so_far = self._tried_so_far, set()
                try:
                    values = super()._random_values()
                finally:
                    self._tried_so_far = tried
            return values

    class RandomOracle(AutomlOracle, kt.oracles.RandomSearchOracle):
        pass

    class BayesianOracle(AutomlOracle, kt.oracles.BayesianOptimizationOracle):
        pass

    class HyperbandOracle(AutomlOracle, kt.oracles.HyperbandOracle):
        """KerasTuner's Hyperband, rewritten for trials that run one at a time and may fail.

        KerasTuner promotes from a round only while more of its trials have COMPLETED than will be thrown
        away, so one failed trial leaves its bracket waiting forever; here a round is ready once all its
        trials have finished (completed or failed), and the best completed ones are promoted. When every
        bracket is used up a new Hyperband iteration starts instead of stopping the search.
        """

        max_brackets: int | None = None

        def _get_num_brackets(self) -> int:
            full = super()._get_num_brackets()
            return min(full, self.max_brackets) if self.max_brackets else full

        def restart_brackets(self) -> None:
            """Start again from the most aggressive bracket (after changing ``max_brackets``)."""
            self._current_bracket = self._get_num_brackets() - 1
            self._brackets: list[dict[str, Any]] = []
            self._start_new_bracket()

        def populate_space(self, trial_id):
            for bracket in list(self._brackets):
                bracket_num, rounds = bracket["bracket_num"], bracket["rounds"]
                if len(rounds[0]) < self._get_size(bracket_num, 0):
                    return self._random_trial(trial_id, bracket)
                step = self._next_promotion(bracket)
                if step == "done":
                    self._brackets.remove(bracket)
                elif step != "wait":
                    return self._promote(trial_id, bracket, *step)
            self._increment_bracket_num()
            self._start_new_bracket()
            return self._random_trial(trial_id, self._brackets[-1])

        def _next_promotion(self, bracket):
            """``(round, trial)`` to run next in ``bracket``, "wait" (trials still running) or "done"."""
            bracket_num, rounds = bracket["bracket_num"], bracket["rounds"]
            for round_num in range(1, len(rounds)):
                if len(rounds[round_num]) >= self._get_size(bracket_num, round_num):
                    continue
                past = [self.trials[info["id"]] for info in rounds[round_num - 1]]
                if any(t.status not in (TrialStatus.COMPLETED, TrialStatus.FAILED) for t in past):
                    return "wait"
                selected = {info["past_id"] for info in rounds[round_num]}
                candidates = [t for t in past if t.status == TrialStatus.COMPLETED and t.trial_id not in selected]
                if candidates:
                    best = sorted(candidates, key=lambda t: t.score, reverse=self.objective.direction == "max")[0]
                    return round_num, best
                # Too many failures to fill this round: it stays short and the next round draws from it.
            return "done"

        def _promote(self, trial_id, bracket, round_num, best):
            bracket_num = bracket["bracket_num"]
            values = best.hyperparameters.values.copy()
            values.update({
                "tuner/trial_id": best.trial_id,
                "tuner/epochs": self._get_epochs(bracket_num, round_num),
                "tuner/initial_epoch": self._get_epochs(bracket_num, round_num - 1),
                "tuner/bracket": bracket_num,
                "tuner/round": round_num,
            })
            bracket["rounds"][round_num].append({"past_id": best.trial_id, "id": trial_id})
            return {"status": TrialStatus.RUNNING, "values": values}

        def get_state(self):
            return {**super().get_state(), "automl_max_brackets": self.max_brackets}

        def set_state(self, state):
            super().set_state(state)
            self.max_brackets = state.get("automl_max_brackets")

    return {"random": RandomOracle, "bayesian": BayesianOracle, "hyperband": HyperbandOracle}


def make_oracle(sampler: str, space: SearchSpace, seed: int, expected_trials: int | None):
    """A fresh oracle for ``sampler``, with every option that is not part of its saved state."""
    import keras_tuner as kt

    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown KerasTuner sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}.")
    objective = kt.Objective(space.objective, "max" if space.direction == "maximize" else "min")
    cls = _oracle_classes()[sampler]
    if sampler == "random":
        oracle = cls(objective=objective, max_trials=None, seed=oracle_seed(seed))
    elif sampler == "bayesian":
        oracle = cls(objective=objective, max_trials=None, seed=oracle_seed(seed),
                     num_initial_points=startup_trials(expected_trials))
    else:
        oracle = cls(objective=objective, max_epochs=space.training["max_epochs"], factor=HYPERBAND_FACTOR,
                     seed=oracle_seed(seed))
        oracle.max_brackets = hyperband_brackets(space.training["max_epochs"], expected_trials)
        oracle.restart_brackets()
    oracle.verbose = 0  # KerasTuner prints a table per trial to stdout otherwise
    return oracle


# --- the space, declared up front ------------------------------------------------------------------------
class _DeclaringDriver(Driver):
    """Registers each parameter in a ``HyperParameters`` (conditional on its plugin) and answers with the
    default, or with ``forced`` values for the family selectors, so one pass can walk any plugin."""

    def __init__(self, hp: Any, forced: dict[str, str]) -> None:
        self.kt_driver, self.forced = KerasTunerDriver(hp), forced

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        self.kt_driver.suggest(param, condition)
        if param.name in self.forced:
            return self.forced[param.name]
        return param.value if isinstance(param, FixedParam) else param.initial


def declare_space(space: SearchSpace, registry: Registry, task: str):
    """Every plugin's parameters in one ``keras_tuner.HyperParameters``, before the first trial.

    The space is define-by-run: left alone, an oracle would learn a plugin's parameters only after a trial
    had chosen that plugin (and run it with the defaults). Walking each plugin of each family once lets
    Random and Bayesian sample every parameter from the first trial on. Parameters a plugin declares only
    for some values of another one are still added when a trial first meets them.
    """
    import keras_tuner as kt

    hp = kt.HyperParameters()
    names = space.for_task(task, registry)
    for family in FAMILIES:
        for name in names[family]:
            try:
                space.sample(_DeclaringDriver(hp, {family: name}), registry, task)
            except Exception:  # a plugin's space() raised: the trial that picks it records why
                continue
    return hp


# --- the backend -------------------------------------------------------------------------------------------
@dataclass
class KerasTunerTrial:
    number: int
    candidate: Candidate
    reporter: NoPruning  # KerasTuner has no per-epoch pruner; the trainer's early stopping still runs
    retry_of: int | None
    trial: Any  # keras_tuner.engine.trial.Trial
    continues: int | None = None  # Hyperband: the number of the trial whose weights this promotion continues
    may_be_continued: bool = False  # Hyperband: a round that is not its bracket's last (keep the weights)


class KerasTunerBackend(Backend[KerasTunerTrial]):
    """Ask / tell over a KerasTuner oracle; state in ``RUN/kerastuner/state.json`` (see the module doc)."""

    def __init__(self, run_dir: Path, space: SearchSpace, registry: Registry, task: str, *,
                 sampler: str = "hyperband", seed: int = 0, expected_trials: int | None = None,
                 max_retries: int = 1) -> None:
        self.space, self.registry, self.task, self.sampler = space, registry, task, sampler
        self.max_retries = max_retries
        self.path = state_path(run_dir)
        self.bookkeeping_seconds = 0.0
        _oracle_classes()  # imports KerasTuner (and TensorFlow): not bookkeeping
        started = time.perf_counter()
        self.oracle = make_oracle(sampler, space, seed, expected_trials)
        # automl's side of the books: one entry per asked trial, in number order.
        self.entries: list[dict[str, Any]] = []
        # KerasTuner trial id -> number of the interrupted run that its next run retries.
        self.pending_retries: dict[str, int] = {}
        if self.path.exists():
            self._load(seed)
        with _quiet():
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
                              for tid, trial in _unpack_trials(state["hyperparameter_table"], state["trials"]).items()}
        self.oracle.set_state(state["oracle"])
        self.entries = state["automl"]["trials"]
        self.pending_retries = state["automl"]["pending_retries"]
        if self.sampler == "bayesian":
            import numpy as np

            # A resumed run gets a fresh optimizer seed, or it would replay the same restart points.
            self.oracle._random_state = np.random.RandomState(oracle_seed(seed) + len(self.entries))

    def _save(self) -> None:
        """One atomic write of everything: a kill at any moment leaves the previous or the new state."""
        table, trials = _pack_trials(self.oracle.trials)
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
            with _quiet():
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
        with _quiet():
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
            with _quiet():
                self.oracle.end_trial(trial)
            self._save()
            self.bookkeeping_seconds += time.perf_counter() - started
            raise SamplingFailed(number, reason) from exc
        self._save()
        self.bookkeeping_seconds += time.perf_counter() - started
        values = trial.hyperparameters.values
        return KerasTunerTrial(number, candidate, NoPruning(), retry_of, trial,
                               continues=self._completed_number(values.get("tuner/trial_id")),
                               may_be_continued=values.get("tuner/round", 0) < values.get("tuner/bracket", 0))

    def _completed_number(self, trial_id: str | None) -> int | None:
        """The number of the completed run of KerasTuner trial ``trial_id`` (a promotion's source)."""
        runs = [e["number"] for e in self.entries if e["trial_id"] == trial_id
                and (e["record"] or {}).get("status") == COMPLETE]
        return runs[-1] if trial_id is not None and runs else None

    def _candidate(self, trial: Any) -> Candidate:
        candidate = self.space.sample(KerasTunerDriver(trial.hyperparameters), self.registry, self.task)
        params = {k: _plain(v) for k, v in candidate.params.items()}
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
        with _quiet():
            self.oracle.end_trial(trial)
        self._save()
        self.bookkeeping_seconds += time.perf_counter() - started


def _pack_trials(trials: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each KerasTuner trial carries a copy of the whole space (a few KB); store every distinct
    parameter declaration once and let the trials point into that table."""
    table: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    packed = {}
    for trial_id, trial in trials.items():
        state = trial.get_state()
        refs = []
        for declaration in state["hyperparameters"]["space"]:
            key = json.dumps(declaration, sort_keys=True)
            if key not in index:
                index[key] = len(table)
                table.append(declaration)
            refs.append(index[key])
        state["hyperparameters"] = {"space": refs, "values": state["hyperparameters"]["values"]}
        packed[trial_id] = state
    return table, packed


def _unpack_trials(table: list[dict[str, Any]], packed: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`_pack_trials`: KerasTuner trial states (each with its own copies: KerasTuner's
    ``from_config`` deserialises the conditions of a declaration in place)."""
    return {trial_id: {**state, "hyperparameters": {"space": [copy.deepcopy(table[i])
                                                              for i in state["hyperparameters"]["space"]],
                                                    "values": state["hyperparameters"]["values"]}}
            for trial_id, state in packed.items()}


def _plain(value: Any) -> Any:
    """Python scalars (the Bayesian oracle hands out numpy floats)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "item"):
        return value.item()
    return value


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """KerasTuner calls the deprecated ``threading.currentThread`` and the Gaussian process warns about
    convergence; neither means anything to the user of a search."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
