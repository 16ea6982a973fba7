"""KerasTuner's oracles (random, Bayesian, Hyperband) with automl's storage, seeding and failure handling."""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from typing import Any

from automl.errors import ConfigError
from automl.search_space import SearchSpace

HYPERBAND_FACTOR = 3


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
def oracle_classes() -> dict[str, type]:
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

    if sampler not in oracle_classes():
        raise ConfigError(f"unknown KerasTuner sampler {sampler!r}; choose one of: {', '.join(oracle_classes())}.")
    objective = kt.Objective(space.objective, "max" if space.direction == "maximize" else "min")
    cls = oracle_classes()[sampler]
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


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """KerasTuner calls the deprecated ``threading.currentThread`` and the Gaussian process warns about
    convergence; neither means anything to the user of a search."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
