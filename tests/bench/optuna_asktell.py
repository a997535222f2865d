"""make bench, issue 3 (c): Optuna's ask/tell throughput, the reference for spotsweep's leases.

Usage: /usr/bin/python3 optuna_asktell.py DB_PATH TRIALS [--stored N [--stored-state STATE]]

Without --stored: TRIALS ask + tell pairs on a fresh study in optuna.storages.RDBStorage on
SQLite (a new file at DB_PATH), trivial objective; prints "TRIALS SECONDS TRIALS_PER_S".

With --stored N: the study first holds N trials (COMPLETE by default), the number of pending
trials spotsweep's (a) figure leases from, so both are measured "for the same number of trials".
Then load_study in a fresh RDBStorage, one warm-up ask + tell, timed on its own (Optuna's cached
storage reads every stored trial once on the first ask), then TRIALS ask + tell pairs, timed;
prints "TRIALS SECONDS TRIALS_PER_S WARMUP_SECONDS". Optuna's per-ask cost grows with the
number of stored trials (each ask re-reads the study's trial ids through SQLAlchemy in
_cached_storage.read_trials_from_remote_storage -> _rdb/storage.py _get_trials), which is why
this figure, not the fresh study's, is the issue's comparison.

The fill is SQL, not Optuna's API: create_study, one real ask + tell through Optuna, and then
sqlite3 copies that trial (its trials row and its rows in every per-trial table, trial_params,
trial_values and any other table with a trial_id column the template has rows in) into trials
numbered 1..N-1, in one transaction: under a second for 100,000 trials, where
study.add_trials takes milliseconds a trial (minutes for 100,000). The copies are what Optuna
itself writes for a finished trial, so load_study reads them as ordinary COMPLETE trials.

COMPLETE is the kinder choice for Optuna. The real analogue of spotsweep's pending trials is
Optuna's WAITING trials (enqueued, not yet asked for), but Optuna 3.1 never caches an
unfinished trial as final: every ask re-reads each WAITING trial in full (with its params,
values and attributes) and then scans them to pop one. Measured here (Optuna 3.1,
2 cores, 30 timed pairs): 5,000 stored WAITING trials (--stored-state WAITING) gave 3.1
trials/s, 5,000 stored COMPLETE 41 trials/s, a fresh study about 85; so the COMPLETE figure
flatters Optuna. (COMPLETE: 10,000 stored gave 22 trials/s with a 1.2 s warm-up, 100,000
stored 2.9 trials/s with a 13.6 s warm-up and a peak RSS of about 900 MB.)
--stored-state WAITING (copies with state WAITING and no params or values) is there only to
check that claim; the bench uses COMPLETE.

RandomSampler, so that the figure is Optuna's storage and bookkeeping, not TPE's modelling
(TPE is slower still, and slows down as trials accumulate): the comparison favours Optuna.
"""
import argparse
import os
import sqlite3
import time

import optuna


def ask_tell(study):
    trial = study.ask()
    x = trial.suggest_float("x", -10.0, 10.0)
    study.tell(trial, x * x)


def fill(path, stored, state):
    """Make the study at PATH hold STORED trials: the one Optuna wrote, and copies of it."""
    db = sqlite3.connect(path)
    with db:
        study_id, template_id = db.execute(
            "SELECT study_id, trial_id FROM trials WHERE number = 0").fetchone()
        db.execute(
            """WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
            INSERT INTO trials(number, study_id, state, datetime_start, datetime_complete)
            SELECT i, study_id, ?, CASE WHEN ? THEN datetime_start END,
                   CASE WHEN ? THEN datetime_complete END
            FROM c, (SELECT * FROM trials WHERE trial_id = ?)""",
            (stored - 1, state, state == "COMPLETE", state == "COMPLETE", template_id))
        # A WAITING trial has no params, values or attributes yet: only COMPLETE copies them.
        tables = [] if state != "COMPLETE" else [
            name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'trials'")
            if any(col[1] == "trial_id" for col in db.execute("PRAGMA table_info(%s)" % name))]
        for name in tables:
            cols = [col[1] for col in db.execute("PRAGMA table_info(%s)" % name)
                    if col[1] != "trial_id" and not col[5]]
            collist = ", ".join('"%s"' % c for c in cols)
            db.execute(
                'INSERT INTO %s(trial_id, %s) SELECT t.trial_id, %s FROM trials t, %s r '
                'WHERE t.study_id = ? AND t.number > 0 AND r.trial_id = ?'
                % (name, collist, ", ".join('r."%s"' % c for c in cols), name),
                (study_id, template_id))
    n = db.execute("SELECT count(*) FROM trials WHERE study_id = ?", (study_id,)).fetchone()[0]
    db.close()
    if n != stored:
        raise SystemExit("optuna_asktell.py: the study holds %d trials, not %d" % (n, stored))


def main():
    ap = argparse.ArgumentParser(description="Optuna ask/tell throughput on SQLite")
    ap.add_argument("db_path")
    ap.add_argument("trials", type=int)
    ap.add_argument("--stored", type=int, default=0,
                    help="trials the study holds before the timed pairs")
    ap.add_argument("--stored-state", choices=("COMPLETE", "WAITING"), default="COMPLETE")
    args = ap.parse_args()
    if args.trials < 1 or args.stored < 0:
        ap.error("TRIALS must be positive and --stored not negative")
    if os.path.exists(args.db_path):
        os.unlink(args.db_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = "sqlite:///" + args.db_path
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name="bench",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    warmup = None
    if args.stored > 0:
        ask_tell(study)
        del study
        storage.engine.dispose()
        del storage
        fill(args.db_path, args.stored, args.stored_state)
        study = optuna.load_study(storage=optuna.storages.RDBStorage(url), study_name="bench",
                                  sampler=optuna.samplers.RandomSampler(seed=1))
        t0 = time.monotonic()
        ask_tell(study)
        warmup = time.monotonic() - t0
    t0 = time.monotonic()
    for _ in range(args.trials):
        ask_tell(study)
    secs = time.monotonic() - t0
    line = "%d %.3f %.1f" % (args.trials, secs, args.trials / secs)
    if warmup is not None:
        line += " %.3f" % warmup
    print(line)


if __name__ == "__main__":
    main()
