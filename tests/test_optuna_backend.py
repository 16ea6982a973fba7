"""The Optuna backend's continuation of the best trial (training.continue_best), on a real journal file."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.backends import open_backend
from automl.plugin_manager import build_registry
from automl.search_space import SearchSpace
from automl.trainer import COMPLETE, TrialResult


@pytest.fixture
def photo_backend(tmp_path: Path):
    registry = build_registry(autoload=False)
    space = SearchSpace.load("photo_default", registry)
    backend = open_backend("optuna", tmp_path, space, registry, "image", sampler="tpe", pruner="hyperband", seed=0,
                           expected_trials=None)
    backend.enqueue_initial([sampled for _, sampled in space.initial_candidates(registry, "image")])
    return backend


def finish(backend, handle, accuracy: float) -> dict:
    result = TrialResult(COMPLETE, epochs=60, objective=accuracy, val_accuracy=accuracy, val_loss=1 - accuracy)
    record = {"trial": handle.number, **result.record(), "candidate": handle.candidate.to_dict()}
    backend.tell(handle, result, record)
    return record


def test_a_continuation_runs_the_best_trials_parameters_ahead_of_the_queued_initial_trials(photo_backend):
    first = photo_backend.ask()
    record = finish(photo_backend, first, 0.8)
    # The space's second initial trial is still queued; the continuation must not start it instead.
    continuation = photo_backend.ask_continuation(record, max_epochs=150, patience=30)
    assert continuation.continues == first.number
    assert continuation.candidate.params == first.candidate.params
    assert (continuation.candidate.max_epochs, continuation.candidate.patience) == (150, 30)
    assert continuation.reporter.prunable is False  # the pruner's rungs are for trials that start from scratch
    second = photo_backend.ask()
    # The queued second initial trial: the same network without batch norm.
    assert second.continues is None and second.candidate.params["cnn.batch_norm"] is False
    assert photo_backend.ask_continuation(record, max_epochs=150, patience=30) is None  # once per run


def test_a_retried_continuation_keeps_what_it_continues(photo_backend):
    record = finish(photo_backend, photo_backend.ask(), 0.8)
    continuation = photo_backend.ask_continuation(record, max_epochs=120, patience=24)
    assert photo_backend.fail_trial(continuation.number, "interrupted", retry=True)
    photo_backend.ask()  # the queued second initial trial comes first
    retry = photo_backend.ask()
    assert retry.retry_of == continuation.number and retry.continues == record["trial"]
    assert (retry.candidate.max_epochs, retry.candidate.patience) == (120, 24)
