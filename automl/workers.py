"""Long-lived local worker processes, and what the search process does when one of them fails.

``--workers K`` starts K processes. Each imports TensorFlow once, loads the data once, and runs trials with
:class:`automl.runner.TrialRunner` until the run has its trials, then exits; after ``--recycle-after`` trials
a worker exits and is replaced, which bounds the memory one process can accumulate across trials. With
K > 1 each worker runs TensorFlow single-threaded by default (two such processes beat one two-threaded
process on small models).

The search process owns the display and the fault policy. Each worker talks to it over its own pipe (a
killed worker can break only its own pipe). A worker that dies — SIGKILL, out of memory, ``os.abort()`` in
plugin code, a segfault — or whose trial runs past ``--trial-timeout`` (it is killed) leaves its trial as
a ``failed`` row with the reason, is replaced, and the search goes on. A killed or crashed trial is queued
again up to ``--max-retries`` times; a trial that timed out is not (it would hang again).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from automl.events import Message, TrialEvent, TrialFinished, TrialStarted
from automl.run_dir import RunDirectory


# What a worker process says on its pipe besides the trial events: why it stopped, or what it raised.
@dataclass(frozen=True)
class WorkerExit:
    reason: str  # TrialRunner.run's answer: "target", "deadline", "stopped", "failures" or "recycle"


@dataclass(frozen=True)
class WorkerError:
    error: str  # "ExceptionType: message"
    traceback: str


# What a worker's exit status means, for the trial it was running.
_SIGNAL_REASONS: dict[int, str] = {  # by signal number (a Signals is the int it stands for)
    signal.SIGKILL: "its worker process was killed (SIGKILL: out of memory, or killed from outside)",
    signal.SIGABRT: "its worker process aborted (SIGABRT, e.g. os.abort() or a failed allocation in native code)",
    signal.SIGSEGV: "its worker process crashed (SIGSEGV)",
    signal.SIGTERM: "its worker process was terminated (SIGTERM)",
}


def exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "its worker process stopped"
    if exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return _SIGNAL_REASONS.get(number, f"its worker process died from {name}")
    return f"its worker process exited with status {exitcode}"


@dataclass
class WorkerSettings:
    """Everything a worker process needs; sent to it once, at start."""

    index: int
    config: dict[str, Any]  # the run's resolved experiment (config.yaml)
    run_dir: str
    storage_url: str | None  # may hold a password: it travels in memory only, never in argv or files
    study_name: str
    recycle_after: int | None
    threads: int | None  # TensorFlow intra/inter-op threads; None = TensorFlow's default
    memory_limit_mb: int | None
    max_retries: int


class SearchProcessGone(KeyboardInterrupt):
    """A worker's pipe to its search process broke: the search was killed, so the worker stops as if
    interrupted (a KeyboardInterrupt: no plugin's or trainer's ``except Exception`` turns it into a failure)."""

    def __init__(self) -> None:
        super().__init__("the loss of its search process")


def worker_main(settings: WorkerSettings, connection: Connection) -> None:
    """Entry point of a worker process (multiprocessing 'spawn')."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search process's to handle
    try:
        _limit_resources(settings)
        context, backend = open_worker(settings.config, settings.run_dir, settings.storage_url, settings.study_name,
                                       seed_offset=settings.index + 1, max_retries=settings.max_retries)

        def stop_requested() -> bool:
            return connection.poll() and connection.recv() == "stop"

        def emit(event: TrialEvent) -> None:
            try:
                connection.send(event)
            except (BrokenPipeError, ConnectionResetError, EOFError) as exc:
                # The search process was killed: its trial is interrupted (and queued again), not failed.
                raise SearchProcessGone() from exc

        from automl.runner import TrialRunner

        runner = TrialRunner(context, backend, emit, stop_requested,
                             max_consecutive_failures=settings.config.get("max_consecutive_failures"))
        reason = runner.run(max_trials=settings.recycle_after)
        connection.send(WorkerExit(reason))
    except BaseException as exc:  # report and leave: the parent decides what happens next
        try:
            connection.send(WorkerError(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        except (BrokenPipeError, OSError):
            pass
        raise SystemExit(3) from None
    finally:
        connection.close()


def _limit_resources(settings: WorkerSettings) -> None:
    if settings.threads:
        # Read by TensorFlow when it initialises, which happens later in this fresh process.
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(settings.threads)
        os.environ["TF_NUM_INTEROP_THREADS"] = str(settings.threads)
        os.environ["OMP_NUM_THREADS"] = str(settings.threads)
    if settings.memory_limit_mb:
        import resource

        # RLIMIT_DATA bounds heap and anonymous mappings (what tensors and arrays use), not the large
        # address-space reservations TensorFlow makes at import; past it, allocations fail in this trial.
        limit = settings.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))


def open_worker(config: dict[str, Any], run_dir, storage_url: str | None, study_name: str, *, seed_offset: int,
                max_retries: int):
    """(RunContext, backend) for a worker: plugins, data (checked against the run's fingerprint), space."""
    from pathlib import Path

    from automl import keras_backend
    from automl.backends import DEFAULT_BACKEND, open_backend
    from automl.data import DatasetsBySize, load_run_data
    from automl.errors import DataError
    from automl.plugin_manager import build_registry
    from automl.runner import RunContext
    from automl.search_space import SearchSpace

    # Every trial of a run trains on the run's Keras backend, whatever this machine's $KERAS_BACKEND says; set
    # before anything here imports Keras (older runs record none: this process's setting).
    keras_backend.activate(config.get("keras_backend") or keras_backend.resolve())
    keras_backend.import_tensorflow_quietly()  # after the thread limits, which TensorFlow reads when it starts
    registry = build_registry(plugins_dir=config.get("plugins_dir"), strict=bool(config.get("strict_plugins")),
                              plugins=config.get("plugins") or ())
    dataset = load_run_data(config)
    if dataset.fingerprint != config.get("data_fingerprint"):
        raise DataError(f"the data at {config['data']!r} differ from the data this run searches (their fingerprint "
                        "differs); every worker must see the same data.")
    space = SearchSpace.from_dict(config["space"], registry, source="the run's config")
    backend = open_backend(config.get("backend") or DEFAULT_BACKEND, Path(run_dir), space, registry, dataset.task,
                           sampler=config["sampler"], pruner=config["pruner"], seed=config["seed"],
                           expected_trials=config.get("target_trials"), storage_url=storage_url,
                           study_name=study_name, seed_offset=seed_offset, max_retries=max_retries)
    context = RunContext(Path(run_dir), dataset, space, registry, seed=config["seed"],
                         target=config.get("target_trials"), deadline=config.get("deadline"),
                         top_k=config.get("top_k", 3), checkpoint_every=config.get("checkpoint_every", 30.0),
                         sized=DatasetsBySize(config, dataset), budget=config.get("time_budget"))
    return context, backend


@dataclass
class _Worker:
    process: Any
    connection: Connection
    trial: int | None = None
    trial_started: float = 0.0
    timed_out: bool = False
    exit_said: str | None = None
    error: str | None = None


@contextlib.contextmanager
def _main_module_hidden():
    """Start a 'spawn' child without running the parent's ``__main__`` in it.

    multiprocessing re-runs the main script in each child (as ``__mp_main__``) unless it is hidden: a user's
    script that calls ``automl.search(...)`` without an ``if __name__ == "__main__":`` guard would start its
    search again in every worker. A worker needs nothing from ``__main__`` (plugins defined there keep their
    trials in the search process), so the child is told of no main module.
    """
    main = sys.modules.get("__main__")
    saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if main is not None and name in main.__dict__}
    try:
        for name in saved:
            if name == "__spec__":
                main.__spec__ = None
            else:
                del main.__dict__[name]
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


class WorkerPool:
    """Starts, watches and replaces the local workers of one search; returns when they are all done."""

    def __init__(self, settings: WorkerSettings, count: int, backend, on_event, *, trial_timeout: float | None,
                 should_stop) -> None:
        import multiprocessing

        self.template, self.count, self.backend = settings, count, backend
        self.on_event, self.trial_timeout, self.should_stop = on_event, trial_timeout, should_stop
        self.context = multiprocessing.get_context("spawn")  # fork would copy a TensorFlow runtime: unsafe
        self.workers: list[_Worker] = []
        self.started = 0
        self.stopping = False

    def _start(self) -> None:
        from dataclasses import replace

        parent_end, child_end = self.context.Pipe(duplex=True)
        settings = replace(self.template, index=self.started)
        process = self.context.Process(target=worker_main, args=(settings, child_end), name=f"automl-worker-{self.started}",
                                       daemon=True)
        with _main_module_hidden():
            process.start()
        child_end.close()
        self.started += 1
        self.workers.append(_Worker(process, parent_end))

    def run(self) -> str:
        for _ in range(self.count):
            self._start()
        finished_for = ""
        from automl.signals import raise_if_interrupted

        while self.workers:
            raise_if_interrupted()
            sources = [w.connection for w in self.workers] + [w.process.sentinel for w in self.workers]
            ready = wait(sources, timeout=0.5)
            for worker in list(self.workers):
                if worker.connection in ready:
                    self._drain(worker)
            self._enforce_timeout()
            if not self.stopping and self.should_stop():
                self.stop()
            for worker in list(self.workers):
                if not worker.process.is_alive():
                    self._drain(worker)
                    worker.process.join()
                    finished_for = self._reap(worker) or finished_for
        return finished_for

    def stop(self) -> None:
        """Ask every worker to stop after its current trial."""
        self.stopping = True
        for worker in self.workers:
            try:
                worker.connection.send("stop")
            except (BrokenPipeError, OSError):
                pass

    def terminate(self, interrupted_by: str | None = None) -> None:
        """Kill the workers still running; with ``interrupted_by`` (the search was stopped by SIGINT or
        SIGTERM) their trials are recorded as ``interrupted`` and queued again for the resumed search."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self.workers:
            worker.process.join()
            self._drain(worker)  # a trial it finished just now is told, not interrupted
            if interrupted_by and worker.trial is not None:
                reason = f"interrupted by {interrupted_by}; queued again: it runs when the search is resumed"
                if self.backend.fail_trial(worker.trial, reason, retry=True, interrupted=True):
                    self.on_event(TrialFinished({"trial": worker.trial, "status": "interrupted", "reason": reason},
                                                self.backend.finished_count()))
                worker.trial = None

    def _drain(self, worker: _Worker) -> None:
        while True:
            try:
                if not worker.connection.poll():
                    return
                event = worker.connection.recv()
            except (EOFError, OSError):
                return
            if isinstance(event, WorkerExit):
                worker.exit_said = event.reason
                continue
            if isinstance(event, WorkerError):
                worker.error = event.error
                self.on_event(Message(f"worker {worker.process.name} failed: {event.error}"))
                continue
            if isinstance(event, TrialStarted):
                worker.trial, worker.trial_started = event.trial, time.monotonic()
            elif isinstance(event, TrialFinished):
                worker.trial = None
            self.on_event(event)

    def _enforce_timeout(self) -> None:
        if not self.trial_timeout:
            return
        now = time.monotonic()
        for worker in self.workers:
            if worker.trial is not None and not worker.timed_out and now - worker.trial_started > self.trial_timeout:
                worker.timed_out = True
                worker.process.kill()

    def _reap(self, worker: _Worker) -> str:
        """A worker has exited: fail its trial if it had one, and start a replacement if work is left."""
        self.workers.remove(worker)
        worker.connection.close()
        if worker.trial is not None:
            if worker.timed_out:
                reason, retry = f"exceeded --trial-timeout ({self.trial_timeout:g} s); its worker was killed", False
            else:
                reason, retry = exit_reason(worker.process.exitcode), True
            if self.backend.fail_trial(worker.trial, reason, retry=retry):
                self.on_event(TrialFinished({"trial": worker.trial, "status": "failed", "reason": reason},
                                            self.backend.finished_count()))
        said = worker.exit_said
        if said in ("target", "deadline", "stopped", "failures") or self.stopping:
            return said or "stopped"
        if worker.error is not None and worker.trial is None and said is None:
            # It failed before or between trials (bad data on this machine, storage unreachable): replacing
            # it would fail the same way.
            if not self.workers:
                from automl.errors import AutomlError

                raise AutomlError(f"every worker failed to start; the last said: {worker.error}")
            return ""
        self._start()  # recycled, crashed or killed: the run goes on
        return ""


def run_worker(run, *, storage: str | None, study: str | None, out=None, max_trials: int | None = None,
               log: list[str] | None = None) -> str:
    """``automl worker``: run trials of an existing search in this process until it has its trials.

    The experiment comes from the run directory's config.yaml, or — given only ``--storage`` and
    ``--study`` — from the study itself, where the search stored it. Stale trials of workers that died
    elsewhere are failed (by heartbeat) and retried before each trial.

    No search process receives this worker's events, so it calls the lifecycle hooks of its loggers itself:
    the search's (its config's ``log``), or ``log`` when given (``[]`` for none), writing under ``out``.
    """
    from pathlib import Path

    from automl.errors import ConfigError
    from automl.io import read_yaml_file, safe_name
    from automl.lifecycle import LifecycleHooks, leaderboard_rows, normalize_logger_names, select_loggers
    from automl.progress import QuietProgress
    from automl.storage import StorageSpec, redact

    if study is not None and safe_name(study) != study:  # it names a folder: runs/<study>
        raise ConfigError(f"--study may hold letters, digits, '.', '_' and '-' only; got {study!r}.")
    if run is not None:
        config_path = RunDirectory(run).config
        if not config_path.is_file():
            raise ConfigError(f"{run} has no {config_path.name}; pass the search's run directory, or --storage and "
                              "--study.")
        config = read_yaml_file(config_path, "the run's experiment file", ConfigError) or {}
        storage = storage or config.get("storage")
        if not storage:
            raise ConfigError(f"the search in {run} keeps its study in a file in the run directory; workers on other "
                              "machines need a database: run the search with --storage postgresql://...")
        from automl.backends.optuna_backend import read_shared_config

        study = study or config.get("study")
        if not study:  # a search writes it; a config.yaml edited by hand may have lost it
            raise ConfigError(f"{config_path} names no study; pass --study (the search's study name).")
        config = read_shared_config(StorageSpec.for_run(Path(run), storage), study)
    else:
        if not storage or not study:
            raise ConfigError("automl worker needs the run directory, or both --storage and --study.")
        from automl.backends.optuna_backend import read_shared_config

        config = read_shared_config(StorageSpec.for_run(Path("."), storage), study)
    run_dir = Path(out) if out else (Path(run) if run is not None else Path("runs") / study)
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = QuietProgress()
    progress.message(f"worker joining study {study!r} in {redact(StorageSpec.for_run(run_dir, storage).url)}")
    context, backend = open_worker(config, run_dir, StorageSpec.for_run(run_dir, storage).url, study,
                                   seed_offset=os.getpid(), max_retries=int(config.get("max_retries", 1)))
    logger_names = normalize_logger_names(log)
    if logger_names is None:
        logger_names = normalize_logger_names(config.get("log")) or []
    hooks = LifecycleHooks(select_loggers(context.registry, logger_names), run_dir, progress.message)
    total = config.get("target_trials")

    def show(event: TrialEvent) -> None:
        if isinstance(event, TrialFinished):
            progress.total = total
            progress.trial_finished(event.record, event.finished, None)
        elif isinstance(event, Message):
            progress.message(event.text)
        hooks(event)

    from automl.runner import TrialRunner

    hooks.search_started({**config, "log": hooks.names})
    try:
        why = TrialRunner(context, backend, show, max_consecutive_failures=config.get("max_consecutive_failures")).run(
            max_trials=max_trials)
    except KeyboardInterrupt:
        if hooks.entries:  # loggers close their files and end their remote runs
            hooks.search_finished(leaderboard_rows(backend.records(), context.space.direction), "interrupted")
        raise
    stopped = {"target": "trials reached", "deadline": "time budget used", "recycle": "--trials reached",
               "failures": "too many trials failed in a row"}.get(why, why)
    hooks.search_finished(leaderboard_rows(backend.records(), context.space.direction), stopped)
    progress.message(f"worker done: {why}")
    return why
