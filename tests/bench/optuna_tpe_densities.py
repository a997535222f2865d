"""Prints the expected values of tests/check_tpe.c's test_optuna_densities: the log density,
cell mass or category probability of Optuna's TPE Parzen estimator (Debian's python3-optuna,
3.1; TPESampler's defaults) for known histories of one parameter, as C table rows.

Usage: /usr/bin/python3 tests/bench/optuna_tpe_densities.py
Two departures from Optuna 3.1, both on purpose:
- its truncnorm.logpdf leaves out -log(scale) (optuna#5109, fixed in 3.5), so continuous
  densities are its fitted weights, centres and widths under scipy's truncnorm;
- its argsort breaks ties between equal centres arbitrarily; spotsweep orders them by age,
  so the estimator here sorts stably.
Continuous densities are per unit of spotsweep's coordinate (the prior's CDF): a log
distribution's is Optuna's plus log(log(max) - log(min)).
"""
import math
import types

import numpy as np
import scipy.stats as ss
from optuna import distributions as D
import optuna.samplers._tpe.parzen_estimator as PE
from optuna.samplers._tpe.sampler import default_weights

_np = types.ModuleType("np_stable")
_np.__dict__.update(np.__dict__)
_np.argsort = lambda a, **kw: np.argsort(a, kind="stable")
PE.np = _np

rng = np.random.RandomState(5)
cases = []


def add(name, dist, obs, pts, mv, scale=0.0):
    p = PE._ParzenEstimatorParameters(True, 1.0, True, False, default_weights, mv)
    pe = PE._ParzenEstimator({"p": np.asarray(obs, dtype=float)}, {"p": dist}, p)
    if isinstance(dist, D.CategoricalDistribution):
        lp = pe.log_pdf({"p": np.asarray(pts, dtype=int)})
    elif isinstance(dist, D.FloatDistribution):
        x = np.asarray(pts, dtype=float)
        if dist.log:
            x = np.log(x)
        mus, sg, w = pe._mus["p"], pe._sigmas["p"], pe._weights
        lo, hi = pe._low["p"], pe._high["p"]
        comp = ss.truncnorm.logpdf(x[:, None], (lo - mus) / sg, (hi - mus) / sg,
                                   loc=mus, scale=sg)
        lp = np.log(np.exp(comp + np.log(w)).sum(axis=1))
    else:
        lp = pe.log_pdf({"p": np.asarray(pts, dtype=float)})
    cases.append((name, mv, obs, pts, [v + scale for v in lp]))


U = D.FloatDistribution(0, 1)
L = D.FloatDistribution(1e-5, 1, log=True)
I = D.IntDistribution(1, 10)
C = D.CategoricalDistribution(["sgd", "momentum", "adam", "adamw", "rmsprop"])
lscale = math.log(math.log(1) - math.log(1e-5))
for mv in (False, True):
    add("x", U, [], [0.001, 0.3, 0.5, 0.999], mv)
    add("x", U, [0.2], [0.001, 0.2, 0.25, 0.9], mv)
    add("x", U, [0.1, 0.15, 0.8, 0.95, 0.4], [0.05, 0.12, 0.5, 0.99], mv)
    add("x", U, list(np.round(rng.rand(40), 3)), [0.01, 0.33, 0.66, 0.97], mv)  # the ramp
    add("lr", L, [1e-3, 2e-3, 0.5, 1e-5], [1.2e-5, 1e-4, 1.5e-3, 0.9], mv, lscale)
    add("layers", I, [], [1, 5, 10], mv)
    add("layers", I, [4, 4, 5, 10, 1, 2], [1, 3, 4, 7, 10], mv)
    add("layers", I, list(rng.randint(1, 11, 30)), [1, 4, 8, 10], mv)
    add("opt", C, [], [0, 2, 4], mv)
    add("opt", C, [2, 2, 3, 0], [0, 1, 2, 3, 4], mv)
    add("opt", C, list(rng.randint(0, 5, 30)), [0, 1, 2, 3, 4], mv)


def fmt(v):
    return ("%d" % v) if float(v).is_integer() and abs(v) < 100 else repr(float(v))


for name, mv, obs, pts, lp in cases:
    print('\t\t{ "%s", %s, %d, { %s },\n\t\t  %d, { %s }, { %s } },' % (
        name, "true" if mv else "false", len(obs), ", ".join(fmt(v) for v in obs) or "0",
        len(pts), ", ".join(fmt(v) for v in pts), ", ".join("%.12g" % v for v in lp)))
