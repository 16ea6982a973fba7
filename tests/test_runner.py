"""The trial loop (automl.runner): why a worker stops before a trial, whether a new trial fits before the
deadline, when the end of a time budget continues the best trial, which models are kept, and one real trial.

The bookkeeping runs on the real Optuna backend over a Journal file in ``tmp_path``, with trials told by hand
(no training); one test trains a real one-epoch MLP on the digits.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from helpers import TINY_MLP_SPACE

from automl.backends import open_backend
from automl.events import TrialEpoch, TrialFinished, TrialStarted
from automl.run_dir import RunDirectory
from automl.runner import RunContext, TrialRunner, keep_top_models
from automl.search_space import SearchSpace
from automl.trainer import COMPLETE, TrialResult

SHARE = 0.5  # training.continue_best: the last half of the time budget may continue the best trial
BUDGET = 200.0


def tiny_space(registry, **training) -> SearchSpace:
    """helpers.TINY_MLP_SPACE (one epoch) with the given training settings added."""
    data = yaml.safe_load(TINY_MLP_SPACE)
    data["training"].update({"max_epochs": 1, **training})
    return SearchSpace.from_dict(data, registry)


def runner_for(run_dir: Path, space: SearchSpace, registry, dataset, *, target: int | None = None,
               seconds_left: float | None = None, budget: float | None = None, events: list | None = None,
               seed: int = 0, **options) -> TrialRunner:
    """A runner over a fresh Optuna study in ``run_dir``; its deadline ``seconds_left`` from now."""
    run_dir.mkdir(parents=True, exist_ok=True)  # the search creates the run's folder before the backend
    backend = open_backend("optuna", run_dir, space, registry, "image", sampler="random", pruner="none", seed=0,
                           expected_trials=None)
    deadline = None if seconds_left is None else time.time() + seconds_left
    context = RunContext(run_dir, dataset, space, registry, seed=seed, target=target, deadline=deadline, top_k=2,
                         budget=budget, checkpoint_every=None)
    emit = events.append if events is not None else (lambda event: None)
    return TrialRunner(context, backend, emit, **options)


def tell(runner: TrialRunner, accuracy: float, train_seconds: float = 10.0, epochs: int = 5, *,
         left_chance_epoch: int | None = 1, kept: bool = True, **fields) -> dict:
    """Ask the backend for a trial and tell it complete without training; ``kept``: its model file exists."""
    handle = runner.backend.ask()
    result = TrialResult(COMPLETE, objective=accuracy, val_accuracy=accuracy, val_loss=1 - accuracy, epochs=epochs,
                         best_epoch=epochs, train_seconds=train_seconds, left_chance_epoch=left_chance_epoch,
                         history={"val_accuracy": [accuracy] * epochs})
    record = {"trial": handle.number, **result.record(), "candidate": handle.candidate.to_dict(), **fields}
    runner.backend.tell(handle, result, record)
    if kept:
        model = runner.context.layout.trial_model(handle.number)
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(b"a kept model")
    return record


def trial_count(runner: TrialRunner) -> int:
    return len(runner.backend.study.trials)


# --- why a worker stops before a trial --------------------------------------------------------------------
def test_a_stop_request_or_a_past_deadline_ends_the_loop_before_asking_for_a_trial(tmp_path, registry, digits):
    space = tiny_space(registry)
    stopped = runner_for(tmp_path / "a", space, registry, digits, should_stop=lambda: True)
    assert stopped.run_one() == "stopped" and stopped.run() == "stopped"
    late = runner_for(tmp_path / "b", space, registry, digits, seconds_left=-1.0)
    assert late.run_one() == "deadline" and late.run() == "deadline"
    assert trial_count(stopped) == trial_count(late) == 0


def test_a_reached_target_ends_the_loop_and_running_trials_hold_their_slots(tmp_path, registry, digits):
    runner = runner_for(tmp_path, tiny_space(registry), registry, digits, target=2)
    tell(runner, 0.9)
    runner.backend.ask()  # another worker's trial, still running: it holds the last slot
    assert runner.run_one() == "wait" and trial_count(runner) == 2
    runner.context.target = 1
    assert runner.run_one() == "target" and runner.run() == "target" and trial_count(runner) == 2


def test_a_worker_recycled_after_its_trials_returns_before_the_next(tmp_path, registry, digits):
    runner = runner_for(tmp_path, tiny_space(registry), registry, digits, target=5, max_consecutive_failures=2)
    assert runner.run(max_trials=0) == "recycle" and trial_count(runner) == 0
    runner.consecutive_failures = 2
    assert runner.run() == "failures" and trial_count(runner) == 0


# --- the deadline ---------------------------------------------------------------------------------------
def test_a_new_trial_starts_only_when_the_median_trial_ends_before_the_deadline(tmp_path, registry, digits):
    """The median of the finished trials' training times; a continuation's long fit does not count."""
    runner = runner_for(tmp_path, tiny_space(registry), registry, digits, seconds_left=30.0)
    assert runner._new_trial_fits()  # nothing finished yet: no estimate, so try
    for seconds in (10.0, 20.0, 25.0):
        tell(runner, 0.8, train_seconds=seconds)
    tell(runner, 0.9, train_seconds=500.0, continued_from=0)
    assert runner._new_trial_fits()  # the median is 20 s, with 30 s left
    runner.context.deadline = time.time() + 15.0
    assert not runner._new_trial_fits()
    asked = trial_count(runner)
    assert runner.run_one() == "deadline" and trial_count(runner) == asked  # stopped without a half trial
    runner.context.deadline = None
    assert runner._new_trial_fits()  # no deadline: a trial always fits


# --- the continuation of the best trial (training.continue_best) ----------------------------------------
def test_the_best_trial_is_continued_over_the_epochs_that_fit_once_the_last_share_began(tmp_path, registry, digits):
    # 101 s left of a 200 s budget: less than the last half once a 10 s trial is done, so the best trial goes on.
    runner = runner_for(tmp_path, tiny_space(registry, continue_best=SHARE), registry, digits, seconds_left=101.0,
                        budget=BUDGET)
    tell(runner, 0.80)
    best = tell(runner, 0.95, train_seconds=10.0, epochs=5)  # 2 s an epoch
    tell(runner, 0.99, kept=False)  # better, but its model was not kept: it cannot be continued
    continuation = runner._continuation()
    assert continuation is not None and continuation.continues == best["trial"]
    assert continuation.candidate.params == best["candidate"]["params"]
    # A tenth of the time left is kept for the final evaluation: int(0.9 * 101 / 2) = 45 more epochs, all of them
    # its patience (early stopping would end it inside the fresh warm-up and decay).
    assert (continuation.candidate.max_epochs, continuation.candidate.patience) == (5 + 45, 45)
    assert runner._continuation() is None  # once per run


def test_no_continuation_while_another_trial_fits_before_the_last_share(tmp_path, registry, digits):
    runner = runner_for(tmp_path, tiny_space(registry, continue_best=SHARE), registry, digits, seconds_left=150.0,
                        budget=BUDGET)
    tell(runner, 0.9, train_seconds=10.0)
    assert runner._continuation() is None  # 150 - 10 s > the last 100 s: a new trial first
    runner.context.deadline = time.time() + 105.0
    assert runner._continuation() is not None


def test_no_continuation_of_a_network_that_never_left_chance_or_without_a_time_budget(tmp_path, registry, digits):
    runner = runner_for(tmp_path, tiny_space(registry, continue_best=SHARE), registry, digits, seconds_left=101.0,
                        budget=BUDGET)
    tell(runner, 0.95, left_chance_epoch=None)  # still at chance: new configurations get the time
    assert runner._continuation() is None
    runner.context.budget = None
    learnt = tell(runner, 0.5)
    assert runner._continuation() is None  # only a --time-budget has a last share
    runner.context.budget = BUDGET
    continuation = runner._continuation()
    assert continuation is not None and continuation.continues == learnt["trial"]  # the best that learnt


def test_no_continuation_shorter_than_its_patience_or_in_a_space_without_the_share(tmp_path, registry, digits):
    runner = runner_for(tmp_path / "a", tiny_space(registry, continue_best=SHARE), registry, digits,
                        seconds_left=101.0, budget=BUDGET)
    tell(runner, 0.9, train_seconds=100.0, epochs=2)  # 50 s an epoch: one more fits, the patience is 2
    assert runner._continuation() is None
    plain = runner_for(tmp_path / "b", tiny_space(registry), registry, digits, seconds_left=101.0, budget=BUDGET)
    tell(plain, 0.9)
    assert plain._continuation() is None


# --- which models are kept ------------------------------------------------------------------------------
def test_only_the_top_k_trials_keep_a_model(tmp_path):
    layout = RunDirectory(tmp_path)
    records: list[dict] = []

    def finish(number: int, accuracy: float, status: str = "complete") -> None:
        records.append({"trial": number, "status": status, "objective": accuracy, "val_loss": 1 - accuracy})
        saved = layout.pending_model(number)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_bytes(f"model {number}".encode())
        keep_top_models(tmp_path, lambda: list(records), "maximize", 2, number, saved)
        assert not saved.exists()  # moved in place or deleted, never left pending

    finish(0, 0.5)
    finish(1, 0.7)
    assert layout.kept_trials() == [0, 1]
    finish(2, 0.6)  # better than trial 0: trial 0's folder goes
    assert layout.kept_trials() == [1, 2] and not layout.trial_model(0).parent.exists()
    finish(3, 0.4)  # below the top two: not kept
    finish(4, 0.99, status="pruned")  # a pruned trial is not ranked
    assert layout.kept_trials() == [1, 2]
    assert layout.trial_model(2).read_bytes() == b"model 2" and list(layout.pending.iterdir()) == []


# --- one real trial ---------------------------------------------------------------------------------------
def test_a_runner_trains_its_target_keeps_the_model_and_reports_each_step(tmp_path, registry, digits):
    events: list = []
    runner = runner_for(tmp_path, tiny_space(registry), registry, digits, target=1, events=events, seed=3)
    assert runner.run() == "target"
    started, *epochs, finished = events
    assert isinstance(started, TrialStarted) and started.trial == 0 and started.candidate["max_epochs"] == 1
    assert [(type(e), e.trial, e.epoch, e.max_epochs) for e in epochs] == [(TrialEpoch, 0, 0, 1)]
    assert isinstance(finished, TrialFinished) and finished.finished == 1
    record = finished.record
    assert record["status"] == COMPLETE and record["epochs"] == 1 and record["seed"] == 3 * 100_003 + 0
    assert record["data_fingerprint"] == digits.fingerprint and record["plugin_versions"]["mlp"].startswith("built-in")
    assert [r["trial"] for r in runner.backend.records()] == [0]
    assert runner.context.layout.kept_trials() == [0] and list(runner.context.layout.pending.iterdir()) == []
