"""The Optuna backend on a real journal file: the continuation of the best trial (training.continue_best), and the
two-objective proposals and pruning of --objectives."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.backends import open_backend
from automl.plugin_manager import build_registry
from automl.search_space import SearchSpace
from automl.trainer import COMPLETE, PRUNED, TrialResult


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


# A searched width and learning rate, with the parameter count as the second objective (--objectives).
TRADE_OFF_SPACE = {
    "architectures": {"mlp": {"layers": 1, "units": {"low": 16, "high": 128}, "dropout": 0.0, "activation": "relu",
                              "batch_norm": False}},
    "augmentations": ["none"],
    "optimizers": {"adam": {"learning_rate": {"low": 0.001, "high": 0.01, "log": True}, "schedule": "constant"}},
    "training": {"max_epochs": 4, "trade_off": "param_count"},
}


def widths_proposed(tmp_path: Path, search_trade_off: bool, trials: int = 24) -> list[int]:
    """The widths a TPE search proposes when every trial scores the same: only the parameter count (75 per unit)
    tells them apart."""
    from automl.backends.optuna_backend import OptunaBackend
    from automl.storage import StorageSpec

    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict(TRADE_OFF_SPACE, registry)
    tmp_path.mkdir()
    backend = OptunaBackend(StorageSpec.for_run(tmp_path, None), space, registry, "tabular", sampler="tpe",
                            pruner="none", seed=0, expected_trials=trials, search_trade_off=search_trade_off)
    widths = []
    for _ in range(trials):
        handle = backend.ask()
        widths.append(handle.candidate.params["mlp.units"])
        result = TrialResult(COMPLETE, epochs=4, objective=0.9, val_accuracy=0.9, val_loss=0.1,
                             param_count=75 * widths[-1] + 10)
        backend.tell(handle, result, {"trial": handle.number, **result.record()})
    return widths


def test_two_objectives_steer_the_tpe_proposals_along_the_second(tmp_path):
    """A tie on the first objective leaves a one-objective TPE indifferent to the width; the two-objective
    proposals move to the small models that dominate, once the random start-up trials (8 of 24) are done."""
    along_both = widths_proposed(tmp_path / "both", search_trade_off=True)
    first_only = widths_proposed(tmp_path / "first", search_trade_off=False)
    guided, unguided = along_both[8:], first_only[8:]
    assert sum(guided) / len(guided) < 0.6 * sum(unguided) / len(unguided), (guided, unguided)


def test_queued_trials_run_before_the_two_objective_proposals(tmp_path):
    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict(TRADE_OFF_SPACE, registry)
    backend = open_backend("optuna", tmp_path, space, registry, "tabular", sampler="tpe", pruner="none", seed=0,
                           expected_trials=10)
    assert backend.proposer is not None  # the optuna plugin searches a trade-off with tpe
    backend.enqueue_initial([{"architecture": "mlp", "augmentation": "none", "optimizer": "adam",
                              "mlp.units": 99, "adam.learning_rate": 0.002}])
    first = backend.ask()
    assert first.candidate.params["mlp.units"] == 99
    assert backend.fail_trial(first.number, "interrupted", retry=True, interrupted=True)
    retry = backend.ask()  # queued by the interruption: it comes before any proposal
    assert retry.retry_of == first.number and retry.candidate.params["mlp.units"] == 99


def trade_off_backend(tmp_path: Path, search_trade_off: bool):
    from automl.backends.optuna_backend import OptunaBackend
    from automl.storage import StorageSpec

    registry = build_registry(autoload=False)
    return OptunaBackend(StorageSpec.for_run(tmp_path, None), SearchSpace.from_dict(TRADE_OFF_SPACE, registry),
                         registry, "tabular", sampler="tpe", pruner="median", seed=0, expected_trials=10,
                         search_trade_off=search_trade_off)


def run_trial(backend, param_count: int, scores: list[float]) -> int | None:
    """One trial as the trainer runs it: its size once built, then a report per epoch; the epoch it was pruned
    after (None: it completed)."""
    handle = backend.ask()
    handle.reporter.measured("param_count", param_count)
    for epoch, score in enumerate(scores):
        if handle.reporter.report(epoch, score):
            backend.tell(handle, TrialResult(PRUNED, epochs=epoch + 1), {"trial": handle.number, "status": PRUNED})
            return epoch + 1
    result = TrialResult(COMPLETE, epochs=len(scores), objective=scores[-1], val_accuracy=scores[-1], val_loss=0.1,
                         param_count=param_count)
    backend.tell(handle, result, {"trial": handle.number, **result.record()})
    return None


@pytest.mark.parametrize("search_trade_off", [True, False])
def test_a_trial_is_pruned_on_the_first_objective_only_when_a_trial_as_small_did_better(tmp_path, search_trade_off):
    """Three large models reach 0.95; a model ten times smaller learns more slowly. The median pruner would stop
    it, but no trial at most its size has done better at the same epoch: it stays, as the cheap end of the front.
    A model between the two, worse than the small one at every epoch, is dominated and pruned."""
    backend = trade_off_backend(tmp_path, search_trade_off)
    for _ in range(3):
        assert run_trial(backend, 10_000, [0.5, 0.7, 0.9, 0.95]) is None
    small = run_trial(backend, 1_000, [0.3, 0.4, 0.5, 0.6])
    middle = run_trial(backend, 2_000, [0.2, 0.3, 0.4, 0.5])
    if search_trade_off:
        assert small is None and middle is not None
    else:  # --objectives with a sampler that searches the first objective alone: plain median pruning
        assert small is not None and middle is not None
