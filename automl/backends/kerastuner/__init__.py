"""The KerasTuner backend (``--backend kerastuner``): its oracles sample the candidates, automl trains.

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
  mixed types (``[None, 3]``); :class:`automl.backends.kerastuner.driver.KerasTunerDriver` declares the latter by key and always
  answers with the declared option, so the records hold the plugin's own values.

Hyperband (KerasTuner's bracket scheduler, not a pruner) gives each trial an epoch budget,
``hyperparameters["tuner/epochs"]``; the candidate is trained with ``max_epochs`` = that budget (early
stopping still runs), so the brackets show in the leaderboard's ``epochs`` column. A promoted trial is a
new automl trial that **continues** from the best weights of the trial it was promoted from, as
KerasTuner's own Hyperband does: the handle names that trial (``continues``), the runner keeps the weights
of every trial that may be promoted (``may_be_continued``, under ``RUN/checkpoints/warm/``) and the trainer
trains on from its epoch count with a fresh optimizer. Where those weights are missing (a run directory
from before, or a failed save) the promotion is trained from scratch instead.

The package: :mod:`.driver` declares the search space to KerasTuner and samples through its
``HyperParameters``; :mod:`.oracles` holds KerasTuner's oracles with automl's storage and failure handling;
:mod:`.state` is the one-file state and its read-only reader; :mod:`.backend` is the ask / tell backend.
"""

from automl.backends.kerastuner.backend import KerasTunerBackend, KerasTunerTrial, open_run
from automl.backends.kerastuner.oracles import hyperband_brackets, make_oracle, oracle_seed, startup_trials
from automl.backends.kerastuner.state import read_records, state_path

__all__ = ["KerasTunerBackend", "KerasTunerTrial", "hyperband_brackets", "make_oracle", "open_run",
           "oracle_seed", "read_records", "startup_trials", "state_path"]
