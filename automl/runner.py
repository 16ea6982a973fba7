"""The trial loop every worker runs: claim a slot, sample, train, tell, keep the top models.

The same :class:`TrialRunner` runs inside the search process (``--workers 0``), in each local worker process
(``--workers K``) and in ``automl worker`` on other machines. Workers coordinate only through the study
storage: a shared *slot lock* makes "count the trials, then ask for one" atomic, so together they finish
exactly ``--trials`` trials, and no two workers run the same trial number.

What the runner does is reported as events (:mod:`automl.events`) to an ``emit`` callable — the progress
display in the search process, or the pipe to it from a worker process.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from automl import class_weights, leaderboard
from automl.events import Emit, Message, TrialEpoch, TrialFinished, TrialStarted
from automl.run_dir import RunDirectory

if TYPE_CHECKING:
    from automl.data import Dataset, DatasetsBySize
    from automl.plugin_manager import Registry
    from automl.search_space import SearchSpace

WAIT_SECONDS = 0.5  # how often a worker with no free slot looks again


@dataclass
class RunContext:
    """What every trial of a run needs, built once per worker process."""

    run_dir: Path
    dataset: Dataset
    space: SearchSpace
    registry: Registry
    seed: int
    target: int | None  # finished trials to reach; None = until the deadline
    deadline: float | None  # wall-clock time.time() seconds
    top_k: int
    checkpoint_every: float | None = 30.0  # seconds between a trial's checkpoints; None: no checkpoints
    # The data at the other input sizes the space lists (training.image_size); None: every trial uses dataset.
    sized: DatasetsBySize | None = None
    budget: float | None = None  # the search's --time-budget in seconds (training.continue_best shares it)

    @property
    def layout(self) -> RunDirectory:
        return RunDirectory(self.run_dir)

    def dataset_for(self, candidate) -> Dataset:
        return self.dataset if self.sized is None else self.sized.for_candidate(candidate)

    def plugin_versions(self) -> dict[str, str]:
        return {e.name: e.provenance for e in self.registry.all_entries()}


class TrialRunner:
    """Runs trials from ``backend`` until the target is reached, the deadline passes or ``should_stop()``."""

    def __init__(self, context: RunContext, backend, emit: Emit, should_stop: Callable[[], bool] = lambda: False,
                 max_consecutive_failures: int | None = None):
        self.context, self.backend, self.emit, self.should_stop = context, backend, emit, should_stop
        self.versions = context.plugin_versions()
        # Counted here too, not only by whoever reads the events: a worker must not start one trial too many.
        self.max_consecutive_failures, self.consecutive_failures = max_consecutive_failures, 0

    def run(self, max_trials: int | None = None) -> str:
        """Run trials; return why it stopped: "target", "deadline", "stopped", "failures" or "recycle"."""
        from automl.signals import raise_if_interrupted

        ran = 0
        while True:
            raise_if_interrupted()
            if max_trials is not None and ran >= max_trials:
                return "recycle"
            if self.max_consecutive_failures and self.consecutive_failures >= self.max_consecutive_failures:
                return "failures"
            outcome = self.run_one()
            if outcome in ("target", "deadline", "stopped"):
                return outcome
            if outcome == "wait":
                time.sleep(WAIT_SECONDS)
            else:
                ran += 1

    def run_one(self) -> str:
        """One trial: "ran"; or "wait" (every slot is taken by a running trial); or why nothing is left."""
        from automl.backends import SamplingFailed
        from automl.trainer import COMPLETE, Checkpointing, WarmStart, save_warm_start, train_candidate

        ctx = self.context
        if self.should_stop():
            return "stopped"
        if ctx.deadline is not None and time.time() >= ctx.deadline:
            return "deadline"
        for number in self.backend.fail_stale_trials():
            self.emit(Message(f"trial {number}: its worker stopped sending heartbeats; failed, and queued again if it "
                              "has retries left"))
        try:
            with self.backend.slot_lock():
                finished, running = self.backend.counts()
                if ctx.target is not None and finished >= ctx.target:
                    return "target"
                if ctx.target is not None and finished + running >= ctx.target:
                    return "wait"
                handle = self._continuation()
                continues_best = handle is not None
                if handle is None and not self._new_trial_fits():
                    return "deadline"
                handle = handle or self.backend.ask()
        except SamplingFailed as failure:
            self.consecutive_failures += 1
            self.emit(TrialFinished({"trial": failure.number, "status": "failed", "reason": failure.reason},
                                    self.backend.finished_count()))
            return "ran"
        self.emit(TrialStarted(handle.number, handle.candidate.to_dict()))
        trial_seed = ctx.seed * 100_003 + handle.number
        max_epochs = handle.candidate.max_epochs
        deadline = None if ctx.deadline is None else time.monotonic() + (ctx.deadline - time.time())
        checkpoint = None
        if ctx.checkpoint_every is not None:
            # A retry shares the checkpoint of the attempt it retries, and so continues from its last epoch.
            root = handle.retry_of if handle.retry_of is not None else handle.number
            checkpoint = Checkpointing(ctx.layout.checkpoint(root), ctx.checkpoint_every)
        warm = None
        # A Hyperband promotion or the continuation of the best trial: the trial number it continues, from the
        # weights saved for a promotion or, for the best trial, from its kept model.
        source = handle.continues
        if source is not None:
            weights = ctx.layout.warm_start(source)
            if not weights.is_file():
                weights = ctx.layout.trial_model(source)
            past = next((r for r in self.backend.records() if r["trial"] == source), None)
            if weights.is_file() and past is not None and past.get("history"):
                warm = WarmStart(source, weights, past["epochs"], past["history"], anneal=continues_best)
        dataset = ctx.dataset_for(handle.candidate)
        class_weight = None if dataset.is_regression else class_weights.resolve(  # classes only
            ctx.space.training.get("class_weight"), dataset.y_train, dataset.class_names)
        try:
            result = train_candidate(
                dataset, handle.candidate, ctx.registry, seed=trial_seed, objective=ctx.space.objective,
                reporter=handle.reporter, deadline=deadline, checkpoint=checkpoint, warm_start=warm,
                early_stopping=ctx.space.early_stopping, class_weight=class_weight, constraints=ctx.space.constraints,
                on_epoch=lambda epoch, logs: self.emit(TrialEpoch(handle.number, epoch, max_epochs, logs)),
            )
        except KeyboardInterrupt as stop:  # Ctrl+C, SIGTERM (automl.signals), or the search process is gone
            self._interrupted(handle, stop)
            raise
        result, saved = self._saved_model(handle.number, result, dataset)
        candidate = handle.candidate
        record = {
            "trial": handle.number, **result.record(), "candidate": candidate.to_dict(),
            "seed": trial_seed, "data_fingerprint": ctx.dataset.fingerprint, "retry_of": handle.retry_of,
            **({"continued_from": warm.trial} if warm is not None else {}),
            **({"image_size": list(dataset.preprocessing["image_size"])} if candidate.image_size else {}),
            "plugin_versions": {name: self.versions.get(name, "unknown")
                                for name in (candidate.architecture, candidate.augmentation, candidate.optimizer)},
        }
        self.backend.tell(handle, result, record)
        if checkpoint is not None:
            checkpoint.remove()  # the trial has its result: nothing left to resume
        self.consecutive_failures = self.consecutive_failures + 1 if result.status == "failed" else 0
        if result.status == COMPLETE and handle.may_be_continued:
            try:
                save_warm_start(result.model, ctx.layout.warm_start(handle.number))
            except OSError as exc:  # a promotion of this trial then trains from scratch
                self.emit(Message(f"trial {handle.number}: its weights for a Hyperband promotion were not saved "
                                  f"({exc}); a promotion of it will train from scratch"))
        if warm is not None and warm.weights == ctx.layout.warm_start(warm.trial):
            warm.weights.unlink(missing_ok=True)  # a trial is promoted once: its weights are used up
        if saved is not None:
            keep_top_models(ctx.run_dir, self.backend.records, ctx.space.direction, ctx.top_k, handle.number, saved)
        self.emit(TrialFinished(record, self.backend.finished_count()))
        return "ran"

    def _saved_model(self, number: int, result, dataset):
        """(result, path): a complete trial's model saved where :func:`keep_top_models` takes it from, after
        loading it back once in safe mode; one that does not make the round trip fails the trial instead."""
        from dataclasses import replace

        from automl.errors import ModelReloadError
        from automl.trainer import COMPLETE, FAILED, save_reloadable

        if result.status != COMPLETE or result.model is None:
            return result, None
        path = self.context.layout.pending_model(number)
        try:
            save_reloadable(result.model, path, dataset.x_val)
        except ModelReloadError as exc:
            return replace(result, status=FAILED, reason=str(exc), model=None), None
        except OSError as exc:  # a full disk is not the trial's fault: its result stands, its model is not kept
            path.unlink(missing_ok=True)
            self.emit(Message(f"trial {number}: its model could not be saved ({exc.strerror or exc}); it cannot be "
                              "exported without --refit"))
            return result, None
        return result, path

    def _interrupted(self, handle, stop: KeyboardInterrupt) -> None:
        """Record the running trial as ``interrupted`` and queue it again; its checkpoint stays for the retry."""
        self.backend.release(handle)
        why = getattr(stop, "signal_name", None) or str(stop) or "Ctrl+C"
        reason = f"interrupted by {why}; queued again: it runs when the search is resumed"
        if self.backend.fail_trial(handle.number, reason, retry=True, interrupted=True):
            try:
                self.emit(TrialFinished({"trial": handle.number, "status": "interrupted", "reason": reason},
                                        self.backend.finished_count()))
            except (OSError, EOFError, KeyboardInterrupt):  # nobody is listening any more
                pass

    def _new_trial_fits(self) -> bool:
        """Whether a new trial of the finished trials' median length ends before the deadline. One that would
        not is stopped by the deadline half-trained (on photos: still at chance), and its time is better spent
        on the final evaluation and export."""
        import statistics

        ctx = self.context
        if ctx.deadline is None:
            return True
        done = [r for r in self.backend.records() if r.get("status") in ("complete", "pruned")
                and r.get("train_seconds") and r.get("continued_from") is None]
        if not done:
            return True
        return time.time() + statistics.median(r["train_seconds"] for r in done) < ctx.deadline

    def _continuation(self):
        """The continuation of the best trial, once the time budget's last ``training.continue_best`` share began.

        A photo network still improves when its trial's epochs run out, and one long fit beats several short
        ones there: so the end of the budget goes to training the best finished trial further, from its best
        weights with a fresh warm-up and decay over the epochs that fit, rather than to new trials that would
        be stopped by the deadline half-trained. It starts once no other trial of the usual length fits before
        that share, runs once per run (the backend knows whether one was started), and only when at least its
        patience's worth of epochs fits.
        """
        import statistics

        ctx = self.context
        share = ctx.space.training.get("continue_best")
        if not share or ctx.deadline is None or not ctx.budget:
            return None
        done = [r for r in self.backend.records() if r.get("status") == "complete" and r.get("history")
                and r.get("epochs") and ctx.layout.trial_model(r["trial"]).is_file()]
        # Only a network that has started to learn is worth the rest of the budget; while none has, new trials
        # (another initial configuration) get the time. A record from before this field counts as one that did.
        learnt = [r for r in done if r.get("left_chance_epoch", 0) is not None]
        if not learnt:
            return None
        left = ctx.deadline - time.time()
        typical = statistics.median(r["train_seconds"] for r in done)
        if left - typical > share * ctx.budget:
            return None  # another trial fits before the share
        best = leaderboard.ranked(learnt, ctx.space.direction)[0]
        seconds_per_epoch = best["train_seconds"] / best["epochs"]
        # What the final evaluation and export take is not known here: leave a tenth of the time left for it.
        extra = int(0.9 * left / seconds_per_epoch)
        patience = best["candidate"]["patience"]
        if extra < patience:
            return None
        # The fresh warm-up and decay span all `extra` epochs, and val_loss wanders while the rate is high: early
        # stopping would end the continuation before the decay that gives its gain (measured: stopped 16 epochs
        # after its best, at 45 of 78 epochs), and no other trial could use the time it returns. So its patience
        # is its length; the best epoch's weights are still the ones kept.
        return self.backend.ask_continuation(best, best["epochs"] + extra, extra)


def keep_top_models(run_dir: Path, read_records: Callable[[], list], direction: str, top_k: int, number: int,
                    saved: Path) -> None:
    """Keep model files for the current top-k only: trial ``number``'s, ``saved`` at its
    :meth:`RunDirectory.pending_model`, is moved in place if it is among them, else deleted.

    Under a lock, because several workers finish trials at once; the new file is in place (renamed) before
    any other is deleted, so a crash never leaves the top-k without a model.
    """
    from filelock import FileLock

    layout = RunDirectory(run_dir)
    trials_dir = layout.trials
    trials_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(layout.trials_lock)):
            top = [r["trial"] for r in leaderboard.ranked(read_records(), direction)[:top_k]]
            if number in top:
                path = layout.trial_model(number)
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(saved, path)
            for folder in trials_dir.iterdir():
                if folder.is_dir() and folder.name.isdigit() and int(folder.name) not in top:
                    shutil.rmtree(folder, ignore_errors=True)
    finally:
        saved.unlink(missing_ok=True)
