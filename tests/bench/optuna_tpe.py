"""make bench, issue 9: Optuna's TPE on the functions bench_tpe.c gives spotsweep's TPE.

Usage: /usr/bin/python3 optuna_tpe.py SEEDS [FIRST]
For each function (branin, hartmann6, mixed6: the same definitions and search spaces as
bench_tpe.c) and each seed FIRST..FIRST+SEEDS-1 (FIRST defaults to 1), 100 sequential trials of optuna.samplers.TPESampler with
its defaults (seeded), in memory; prints one line per run: "NAME SEED BEST_AT_50 BEST_AT_100".
"""
import math
import sys

import optuna


def branin(t):
    x1 = t.suggest_float("x1", -5, 10)
    x2 = t.suggest_float("x2", 0, 15)
    b, c, tt = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - tt) * math.cos(x1) + 10


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
     [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
     [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
     [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
     [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(t):
    x = [t.suggest_float("x%d" % (j + 1), 0, 1) for j in range(6)]
    s = 0.0
    for i in range(4):
        inner = sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))
        s += ALPHA[i] * math.exp(-inner)
    return -s


OPTS = ["sgd", "momentum", "adam", "adamw", "rmsprop"]
CENTRE = [-1.0, -1.5, -3.0, -3.0, -2.5]
OPT_COST = [0.6, 0.4, 0.0, 0.05, 0.3]


def mixed6(t):
    lr = t.suggest_float("lr", 1e-5, 1, log=True)
    layers = t.suggest_int("layers", 1, 10)
    units = t.suggest_int("units", 8, 512, log=True)
    opt = t.suggest_categorical("optimizer", OPTS)
    dropout = t.suggest_float("dropout", 0, 0.8)
    batch = t.suggest_categorical("batch_size", [16, 32, 64, 128, 256])
    o = OPTS.index(opt)
    return ((math.log10(lr) - CENTRE[o]) ** 2 / 2 + OPT_COST[o] + 0.05 * (layers - 4) ** 2 +
            0.1 * (math.log2(units) - 7) ** 2 + 2 * (dropout - 0.2) ** 2 +
            0.1 * (math.log2(batch) - 6) ** 2)


def main():
    seeds = int(sys.argv[1])
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name, f in (("branin", branin), ("hartmann6", hartmann6), ("mixed6", mixed6)):
        for seed in range(first, first + seeds):
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
            study.optimize(f, n_trials=100)
            vals = [tr.value for tr in study.trials]
            print("%s %d %.17g %.17g" % (name, seed, min(vals[:50]), min(vals)), flush=True)


if __name__ == "__main__":
    main()
