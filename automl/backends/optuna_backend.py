"""The Optuna backend: a study in the run directory's Journal file (safe for several local processes).

Each trial is asked with ``study.ask()``, turned into a backend-neutral :class:`Candidate` through
:class:`OptunaDriver`, and told its outcome; the trial record (everything the leaderboard shows)
is stored as the user attribute ``automl`` so the storage alone can rebuild the leaderboard.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from automl.backends import STUDY_NAME, Backend, BackendOptions, SamplingFailed, TrialHandle
from automl.errors import ConfigError, NoFinishedTrialsError, RunDirectoryError
from automl.hp import ChoiceParam, Driver, FixedParam, FloatParam, IntParam, Param
from automl.leaderboard import is_finite_number
from automl.plugin_manager import Registry
from automl.search_space import SearchSpace
from automl.storage import StorageSpec
from automl.trainer import COMPLETE, FAILED, INTERRUPTED, PRUNED, TrialResult

RECORD_ATTR = "automl"
CONFIG_ATTR = "automl_config"
RETRY_ATTR = "retry_of"
INITIAL_ATTR = "initial_trial"  # the index of the search space's initial trial this trial runs
# A continuation of the best trial at the end of a time budget (training.continue_best): the number of the
# trial whose weights it continues, the epoch it trains up to and its early-stopping patience.
CONTINUES_ATTR, MAX_EPOCHS_ATTR, PATIENCE_ATTR = "continues", "max_epochs", "patience"
# A trial's second objective (--objectives), set as soon as the trainer measures it: what pruning weighs.
COST_ATTR = "trade_off_value"


class OptunaDriver(Driver):
    """Samples from an ``optuna.Trial`` (define-by-run, so conditions need no extra bookkeeping)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        if isinstance(param, FixedParam):
            return param.value
        if isinstance(param, IntParam):
            return self.trial.suggest_int(param.name, param.low, param.high, step=param.step, log=param.log)
        if isinstance(param, FloatParam):
            return self.trial.suggest_float(param.name, param.low, param.high, log=param.log)
        if isinstance(param, ChoiceParam):
            return self.trial.suggest_categorical(param.name, list(param.options))
        raise TypeError(f"unsupported parameter {param!r}")


def make_sampler(name: str, seed: int, expected_trials: int | None):
    import optuna

    if name == "tpe":
        startup = 10 if expected_trials is None else min(10, max(4, expected_trials // 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # group=True models each plugin's conditional parameters separately; constant_liar keeps
            # parallel workers from sampling the same point.
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, group=True,
                                              constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("--sampler cmaes needs the 'cmaes' package: pip install cmaes") from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError("--sampler gp needs PyTorch (Optuna's GPSampler uses it): pip install torch") from None
        return optuna.samplers.GPSampler(seed=seed)
    raise ConfigError(f"unknown Optuna sampler {name!r}; see automl plugins for the optuna backend's samplers.")


def make_pruner(name: str, max_epochs: int, first_rung: int | None = None):
    """The pruner `name`; no trial is judged before epoch `first_rung` (the space's ``training.first_rung``)."""
    import optuna

    # One epoch says little about a network that is still warming up; judge after two when there is room.
    # Photos sit at chance for many more epochs than digits: their space sets a later first rung.
    min_resource = first_rung or (2 if max_epochs >= 6 else 1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=max_epochs, reduction_factor=3)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=first_rung or 2)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; see automl plugins for the optuna backend's pruners.")


def read_records(storage: StorageSpec, study_name: str = STUDY_NAME) -> list[dict[str, Any]]:
    """The trial records of a run's storage, for reading a finished (or running) run."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage.open())
    except KeyError:
        raise RunDirectoryError(f"the storage {storage.shown} holds no study named {study_name!r}.") from None
    return _records(study)


def read_shared_config(storage: StorageSpec, study_name: str) -> dict[str, Any]:
    """The experiment a search stored in its study (see :meth:`OptunaBackend.share_config`)."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage.open())
    except KeyError:
        raise RunDirectoryError(f"the storage {storage.shown} holds no study named {study_name!r}; start the search "
                                "first (automl search ... --storage URL), then the workers.") from None
    config = study.user_attrs.get(CONFIG_ATTR)
    if not config:
        raise RunDirectoryError(f"study {study_name!r} in {storage.shown} was not created by automl search.")
    return config


def open_run(options: BackendOptions, *, search_trade_off: bool = False) -> OptunaBackend:
    """The backend on the run directory's Journal file, or on ``options.storage_url``'s database;
    ``search_trade_off``: the sampler searches a second objective (``training.trade_off``) beside the first."""
    return OptunaBackend(StorageSpec.for_run(options.run_dir, options.storage_url), options.space, options.registry,
                         options.task, study_name=options.study_name, sampler=options.sampler, pruner=options.pruner,
                         seed=options.seed, expected_trials=options.expected_trials, max_retries=options.max_retries,
                         seed_offset=options.seed_offset, search_trade_off=search_trade_off)


def run_storage(run_dir: Path, config: dict[str, Any]) -> StorageSpec:
    """A run's study storage, checked to exist for its report: opening a missing journal would create an empty
    one in the user's run directory."""
    spec = StorageSpec.for_run(run_dir, config.get("storage"))
    if spec.journal is not None and not spec.journal.is_file():
        raise NoFinishedTrialsError(
            f"{run_dir} has no trial yet: its study storage {spec.journal} does not exist. A report needs at least one "
            f"complete or pruned trial; start or resume the search (automl search ... --out {run_dir}) and try again "
            "once a trial has finished.")
    return spec


def run_distributions(run_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The exact distributions of a run's parameters (log scales, ranges), by parameter name."""
    import optuna

    try:
        study = optuna.load_study(study_name=config.get("study") or STUDY_NAME,
                                  storage=StorageSpec.for_run(run_dir, config.get("storage")).open())
    except KeyError:
        return {}
    distributions: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        distributions.update(trial.distributions)
    return distributions


def dashboard_storage(run_dir: Path, config: dict[str, Any]) -> tuple[Any, str, str]:
    """(the opened storage, the study name, where it is as shown) of a run, for optuna-dashboard."""
    spec = StorageSpec.for_run(run_dir, config.get("storage"))
    if spec.journal is not None and not spec.journal.is_file():  # opening it would create an empty one
        raise RunDirectoryError(f"{run_dir} has no study yet: its storage {spec.journal} does not exist. Start the "
                                f"search (automl search ... --out {run_dir}) first.")
    storage = spec.open()
    study = config.get("study") or STUDY_NAME
    try:
        storage.get_study_id_from_name(study)
    except KeyError:
        raise RunDirectoryError(f"the storage {spec.shown} holds no study named {study!r} (the name in the run's "
                                "configuration); was the search started?") from None
    return storage, study, spec.shown


def _records(study) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    records = []
    for trial in study.get_trials(deepcopy=False):
        if RECORD_ATTR in trial.user_attrs:
            records.append(trial.user_attrs[RECORD_ATTR])
        elif trial.state == TrialState.FAIL:  # failed by someone else (e.g. Optuna itself) without our record
            records.append({"trial": trial.number, "status": FAILED, "reason": "stopped without a result"})
    return records


class _Reporter:
    """Reports each epoch to the study and asks its pruner. In a search of two objectives (``trade_off``), the
    pruner's verdict stands only for a trial that another trial at least as cheap (on the second objective) has
    beaten at the same epoch: pruning on the first objective alone would stop the small, fast models that make the
    cheap end of the Pareto front, since they learn more slowly."""

    def __init__(self, trial: Any, backend: OptunaBackend, prunable: bool = True, trade_off: str | None = None) -> None:
        self.trial, self.backend, self.prunable, self.trade_off = trial, backend, prunable, trade_off
        self.cost: float | None = None  # this trial's second objective, once measured

    def measured(self, name: str, value: float) -> None:
        if name == self.trade_off:
            self.cost = float(value)
            self.trial.set_user_attr(COST_ATTR, self.cost)

    def report(self, epoch: int, value: float) -> bool:
        started = time.perf_counter()
        self.trial.report(value, step=epoch + 1)  # step = epochs trained = Hyperband's resource
        # An initial trial runs to its end: it is the reference the pruner judges later trials against, and
        # one or two epochs say little about a known-good configuration.
        prune = self.prunable and self.trial.should_prune()
        if prune and self.cost is not None:
            prune = self._dominated(epoch + 1, value)
        self.backend.bookkeeping_seconds += time.perf_counter() - started
        return prune

    def _dominated(self, step: int, value: float) -> bool:
        """Whether another trial, at most as costly, scored at least as well at ``step`` (and better on one)."""
        assert self.cost is not None
        sign = 1.0 if self.backend.space.direction == "maximize" else -1.0
        for other in self.backend.study.get_trials(deepcopy=False):
            cost, score = other.user_attrs.get(COST_ATTR), other.intermediate_values.get(step)
            if other.number == self.trial.number or cost is None or score is None or not math.isfinite(score):
                continue
            if cost <= self.cost and sign * score >= sign * value and (cost < self.cost or sign * score > sign * value):
                return True
        return False


class _Heartbeat:
    """Records the running trial's heartbeat in an RDB storage from a daemon thread."""

    def __init__(self, storage: Any, trial_id: int, interval: float) -> None:
        import threading

        self._stop = threading.Event()
        storage.record_heartbeat(trial_id)

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    storage.record_heartbeat(trial_id)
                except Exception:  # a lost beat is retried next time; never kill the trial
                    pass

        self._thread = threading.Thread(target=beat, name=f"automl-heartbeat-{trial_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


class TradeOffProposer:
    """Proposes a trial's parameters for a search with two objectives (``--objectives OBJECTIVE,SECOND``).

    The run's study stays single-objective, on the first objective, because Optuna's multi-objective studies
    cannot report intermediate values or prune (optuna#3450). The proposals come from a two-objective TPE on a
    copy of the study in memory, where each complete trial has both values (the second from its record), so the
    search spreads along the Pareto front instead of climbing the first objective alone; the study's trial then
    runs those parameters (``enqueue_trial``) and is pruned per epoch on the first objective, unless no trial at
    most as costly beat it (:class:`_Reporter`).
    """

    def __init__(self, space: SearchSpace, registry: Registry, task: str, trade_off: str, seed: int,
                 expected_trials: int | None) -> None:
        self.space, self.registry, self.task, self.trade_off = space, registry, task, trade_off
        self.seed, self.expected_trials = seed, expected_trials

    def propose(self, trials: list) -> dict[str, Any]:
        """The parameters of the next trial, given the study's trials so far."""
        import optuna

        shadow = optuna.create_study(directions=[self.space.direction, "minimize"],
                                     # Optuna's TPE is multi-objective (MOTPE) on a study with two directions.
                                     sampler=make_sampler("tpe", self.seed + len(trials), self.expected_trials))
        shadow.add_trials([copy for copy in (self._copy(t) for t in trials) if copy is not None])
        trial = shadow.ask()
        self.space.sample(OptunaDriver(trial), self.registry, self.task)
        return trial.params

    def _copy(self, trial: Any) -> Any:
        """``trial`` as the two-objective study holds it: complete with both values; pruned (over a deployment
        limit, or stopped on the first objective) or running as they are; None for the others."""
        from optuna.trial import TrialState, create_trial

        if not trial.params:
            return None
        if trial.state == TrialState.COMPLETE:
            second: Any = (trial.user_attrs.get(RECORD_ATTR) or {}).get(self.trade_off)
            if not is_finite_number(second):
                return None
            return create_trial(params=trial.params, distributions=trial.distributions,
                                values=[trial.value, second])
        if trial.state in (TrialState.PRUNED, TrialState.RUNNING):
            # Without intermediate values: TPE ranks pruned trials below every complete one, and running ones
            # stand in for their outcome (constant liar) so parallel workers spread out.
            return create_trial(params=trial.params, distributions=trial.distributions, state=trial.state)
        return None


@dataclass
class OptunaTrial(TrialHandle):
    trial: Any = None  # the optuna.Trial
    heartbeat: _Heartbeat | None = None  # a shared database's liveness signal while the trial runs


class OptunaBackend(Backend[OptunaTrial]):
    """Ask / tell over an Optuna study in a Journal file or a database (see :mod:`automl.storage`)."""

    queues_initial_trials = True  # study.enqueue_trial

    def __init__(self, storage: StorageSpec, space: SearchSpace, registry: Registry, task: str, *,
                 study_name: str = STUDY_NAME, sampler: str = "tpe", pruner: str = "hyperband", seed: int = 0,
                 expected_trials: int | None = None, max_retries: int = 1, seed_offset: int = 0,
                 search_trade_off: bool = False) -> None:
        import optuna

        self.space, self.registry, self.task = space, registry, task
        self.spec, self.study_name, self.max_retries = storage, study_name, max_retries
        self.storage = storage.open()
        self.bookkeeping_seconds = 0.0
        existing = len(self._existing_trials())
        # A resumed run (and each of several workers) gets its own sampler seed, or it would replay the same
        # random start-up points.
        sampler_seed = seed + existing + 7919 * seed_offset
        sampler_obj = make_sampler(sampler, sampler_seed, expected_trials)
        # --objectives: proposals along both objectives and pruning that spares the front's cheap end, or
        # (search_trade_off False) both on the first objective alone.
        self.trade_off = space.training.get("trade_off") if search_trade_off else None
        self.proposer = (TradeOffProposer(space, registry, task, self.trade_off, sampler_seed, expected_trials)
                         if self.trade_off is not None else None)
        self.study = optuna.create_study(
            storage=self.storage, study_name=study_name, load_if_exists=True, direction=space.direction,
            sampler=sampler_obj, pruner=make_pruner(pruner, space.training["max_epochs"],
                                                      space.training.get("first_rung")),
        )

    def _existing_trials(self) -> list:
        try:
            study_id = self.storage.get_study_id_from_name(self.study_name)
        except KeyError:
            return []
        return self.storage.get_all_trials(study_id, deepcopy=False)

    # --- bookkeeping -----------------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        """(finished, running): finished trials count towards ``--trials``; running ones hold a slot."""
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                TrialState.RUNNING))
        running = sum(1 for t in trials if t.state == TrialState.RUNNING)
        return len(trials) - running, running

    def finished_count(self) -> int:
        return self.counts()[0]

    def slot_lock(self):
        """A lock all workers of this study share while they check the count and ask (exact trial counts)."""
        from automl.storage import slot_lock

        return slot_lock(self.spec, self.storage, self.study_name)

    def fail_trial(self, number: int, reason: str, *, retry: bool, interrupted: bool = False) -> bool:
        """Fail a trial left RUNNING by a worker that died or hung; queue a retry if it has retries left.

        ``interrupted``: SIGINT or SIGTERM stopped it. Its record says ``interrupted`` and it is queued again
        whatever ``max_retries`` says: an interruption is not the trial's fault. Returns False when the trial
        had already finished (its worker told it in time).
        """
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        trial = next((t for t in self.study.get_trials(deepcopy=False) if t.number == number), None)
        if trial is None or trial.state != TrialState.RUNNING:
            return False
        original = trial.user_attrs.get(RETRY_ATTR)
        record = {"trial": number, "status": INTERRUPTED if interrupted else FAILED, "reason": reason,
                  RETRY_ATTR: original}
        try:
            self.storage.set_trial_user_attr(trial._trial_id, RECORD_ATTR, record)
            self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False
        root = original if original is not None else number
        # Failures of this configuration so far, this one included; interruptions do not count.
        failures = sum(1 for t in self.study.get_trials(deepcopy=False)
                       if (t.number == root or t.user_attrs.get(RETRY_ATTR) == root)
                       and (t.user_attrs.get(RECORD_ATTR) or {}).get("status") == FAILED)
        if retry and trial.params and (interrupted or failures <= self.max_retries):
            carried = {key: trial.user_attrs[key] for key in (INITIAL_ATTR, CONTINUES_ATTR, MAX_EPOCHS_ATTR,
                                                              PATIENCE_ATTR) if key in trial.user_attrs}
            self.study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: root, **carried})
        return True

    def recover_interrupted(self) -> list[int]:
        """Fail trials left RUNNING by a killed process and queue each for a retry (at most ``max_retries``).

        Only for a storage in the run directory, called while holding the run's lock: then no live process
        can own a RUNNING trial. A shared database finds stale trials by heartbeat instead
        (:meth:`fail_stale_trials`), because other machines' trials are running there.
        """
        from optuna.trial import TrialState

        if self.spec.shared:
            return self.fail_stale_trials()
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return [t.number for t in running
                if self.fail_trial(t.number, "interrupted (the process running it stopped)", retry=True)]

    def fail_stale_trials(self) -> list[int]:
        """Fail (and retry) trials whose worker's heartbeat stopped more than the grace period ago."""
        from automl.storage import GRACE_SECONDS

        if not self.spec.shared:
            return []
        stale_ids = set(self.storage._get_stale_trial_ids(self.study._study_id))
        return [t.number for t in self.study.get_trials(deepcopy=False) if t._trial_id in stale_ids
                and self.fail_trial(t.number, f"its worker stopped sending heartbeats for over {GRACE_SECONDS} s "
                                              "(killed, crashed or lost its connection)", retry=True)]

    def share_config(self, config: dict[str, Any]) -> None:
        """Keep the run's experiment in the study, so ``automl worker --storage URL --study NAME`` can join."""
        self.study.set_user_attr(CONFIG_ATTR, json.loads(json.dumps(config, default=str)))

    def enqueue_initial(self, params_list: list[dict[str, Any]]) -> int:
        """Queue the search space's initial trials ahead of the sampler's; returns how many were new.

        A configuration the study already holds (a resumed run) is not queued again.
        """
        from optuna.trial import TrialState

        def waiting() -> int:
            return len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

        before = waiting()
        for index, params in enumerate(params_list):
            self.study.enqueue_trial(params, user_attrs={INITIAL_ATTR: index}, skip_if_exists=True)
        return waiting() - before

    def records(self) -> list[dict[str, Any]]:
        """One record per trial that has one (running trials without a record are left out)."""
        return _records(self.study)

    # --- ask / tell ------------------------------------------------------------------------------------
    def ask_continuation(self, source: dict[str, Any], max_epochs: int, patience: int) -> OptunaTrial | None:
        """A trial that continues trial ``source["trial"]`` (a record) from its weights up to ``max_epochs``,
        with early stopping's ``patience``; None when the study already has one (a run continues its best trial
        once).

        Called under :meth:`slot_lock`, so no other worker's ``ask`` takes the queued trial first. It runs the
        same parameters, is never pruned (the pruner's rungs are for trials that start from scratch), and is
        told like any other trial, so the sampler and the leaderboard see it.
        """
        trials = self.study.get_trials(deepcopy=False)
        if any(CONTINUES_ATTR in t.user_attrs for t in trials):
            return None
        import optuna
        from optuna.trial import TrialState

        params = next(t.params for t in trials if t.number == source["trial"])
        self.study.enqueue_trial(params, user_attrs={CONTINUES_ATTR: source["trial"], MAX_EPOCHS_ATTR: max_epochs,
                                                     PATIENCE_ATTR: patience})
        # study.ask() would pop the oldest waiting trial (an initial trial not yet run): claim this one instead,
        # as Optuna's own queue does (set it RUNNING; False if another process got there first).
        queued = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
                  if CONTINUES_ATTR in t.user_attrs][-1]
        if not self.storage.set_trial_state_values(queued._trial_id, state=TrialState.RUNNING):
            return None
        return self._start(optuna.Trial(self.study, queued._trial_id), time.perf_counter())

    def ask(self) -> OptunaTrial:
        started = time.perf_counter()
        if self.proposer is not None:
            self._queue_proposal()
        return self._start(self.study.ask(), started)

    def _queue_proposal(self) -> None:
        """Queue the two-objective proposal as the next trial, unless a queued trial (an initial trial, a retry)
        comes first."""
        from optuna.trial import TrialState

        assert self.proposer is not None
        trials = self.study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return
        try:
            params = self.proposer.propose(trials)
        except Exception as exc:  # the study's own sampler still proposes this trial
            from automl.signals import raise_if_interrupted

            raise_if_interrupted()  # a stop that native code turned into its own error is still the stop
            warnings.warn(f"the two-objective proposal failed ({type(exc).__name__}: {exc}); this trial is "
                          "sampled on the first objective only", RuntimeWarning, stacklevel=2)
            return
        self.study.enqueue_trial(params)

    def _start(self, trial: Any, started: float) -> OptunaTrial:
        """The handle of a trial just set RUNNING: its heartbeat and its candidate, sampled through ``trial``."""
        heartbeat = None
        if self.spec.shared:
            from automl.storage import HEARTBEAT_SECONDS

            heartbeat = _Heartbeat(self.storage, trial._trial_id, HEARTBEAT_SECONDS)
        try:
            candidate = self.space.sample(OptunaDriver(trial), self.registry, self.task)
        except Exception as exc:  # a plugin's space() raised: this trial fails, the search goes on
            from optuna.trial import TrialState

            if heartbeat:
                heartbeat.stop()
            reason = f"sampling failed: {type(exc).__name__}: {exc}"
            trial.set_user_attr(RECORD_ATTR, {"trial": trial.number, "status": FAILED, "reason": reason})
            self.study.tell(trial, state=TrialState.FAIL)
            raise SamplingFailed(trial.number, reason) from exc
        self.bookkeeping_seconds += time.perf_counter() - started
        continues = trial.user_attrs.get(CONTINUES_ATTR)
        if continues is not None:
            candidate = replace(candidate, max_epochs=int(trial.user_attrs[MAX_EPOCHS_ATTR]),
                                patience=int(trial.user_attrs.get(PATIENCE_ATTR, candidate.patience)))
        prunable = INITIAL_ATTR not in trial.user_attrs and continues is None
        return OptunaTrial(trial.number, candidate, _Reporter(trial, self, prunable, self.trade_off),
                           retry_of=trial.user_attrs.get(RETRY_ATTR), continues=continues, trial=trial,
                           heartbeat=heartbeat)

    def release(self, handle: OptunaTrial) -> None:
        if handle.heartbeat:
            handle.heartbeat.stop()

    def tell(self, handle: OptunaTrial, result: TrialResult, record: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        started = time.perf_counter()
        if handle.heartbeat:
            handle.heartbeat.stop()
        handle.trial.set_user_attr(RECORD_ATTR, record)
        if result.status == COMPLETE:
            self.study.tell(handle.trial, result.objective)
        elif result.status == PRUNED:
            self.study.tell(handle.trial, state=TrialState.PRUNED)
        else:
            self.study.tell(handle.trial, state=TrialState.FAIL)
        self.bookkeeping_seconds += time.perf_counter() - started
