"""make bench, issue 3 (c): Optuna's ask/tell throughput, the reference for spotsweep's leases.

Usage: /usr/bin/python3 optuna_asktell.py DB_PATH TRIALS
Runs TRIALS ask + tell pairs against optuna.storages.RDBStorage on SQLite (a fresh file at
DB_PATH) with a trivial objective, and prints one line: "TRIALS SECONDS TRIALS_PER_S".
RandomSampler, so that the figure is Optuna's storage and bookkeeping, not TPE's modelling
(TPE is slower still, and slows down as trials accumulate): the comparison favours Optuna.
"""
import os
import sys
import time

import optuna


def main():
    path, trials = sys.argv[1], int(sys.argv[2])
    if os.path.exists(path):
        os.unlink(path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage("sqlite:///" + path)
    study = optuna.create_study(storage=storage, study_name="bench",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    t0 = time.monotonic()
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", -10.0, 10.0)
        study.tell(trial, x * x)
    secs = time.monotonic() - t0
    print("%d %.3f %.1f" % (trials, secs, trials / secs))


if __name__ == "__main__":
    main()
