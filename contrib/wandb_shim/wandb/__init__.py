"""wandb, as spotsweep's agent provides it: a stand-in for the Weights & Biases client.

With "wandb_shim": true in a sweep spec (or --wandb-shim), the agent writes this package
into each attempt's folder and puts that folder first on PYTHONPATH, so a training script
written for W&B sweeps runs unchanged, with no account and no network:

  wandb.init()          returns a run whose config holds the trial's parameters
                        (from SPOTSWEEP_PARAMS; attribute and item access, nested too)
  wandb.config          the same config
  wandb.log(d, step=)   prints SPOTSWEEP {"metrics": {...}, "step": N}, which the agent
                        reports; nested dicts become dotted names, non-numbers are skipped
  run.summary[k] = v    reports v as the last value of k
  wandb.finish()        flushes; mark_preempting() tells the agent that the attempt is
                        being preempted, so its exit counts as a preemption
  wandb.agent(id, f)    calls f once: the agent runs one trial per process

Everything else is a harmless no-op that says so once on stderr. This file is the source
of the copy embedded in spotsweep-agent (src/agent-wandb.c); a unit test keeps them equal.
"""

import importlib.abc
import importlib.machinery
import json
import math
import os
import sys
import types

__version__ = "0.0.0+spotsweep"

_said = set()


def _note(what):
    """Says once on stderr that something is not done here."""
    if what in _said:
        return
    _said.add(what)
    sys.stderr.write("wandb (spotsweep shim): %s\n" % what)
    sys.stderr.flush()


def _emit(record):
    sys.stdout.write("SPOTSWEEP " + json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _number(value):
    """The value as a finite float, or None when it is not a number to report."""
    if isinstance(value, (bool, _NoOp)):
        return None
    if not isinstance(value, (int, float)):
        item = getattr(value, "item", None)  # numpy and torch scalars
        if not callable(item):
            return None
        try:
            value = item()
        except Exception:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
    value = float(value)
    return value if math.isfinite(value) else None


class _AttrDict(dict):
    """A dict whose keys are also attributes: config.optimizer.lr."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value


def _wrap(value):
    if isinstance(value, dict) and not isinstance(value, _AttrDict):
        return _AttrDict((k, _wrap(v)) for k, v in value.items())
    return value


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _as_dict(obj):
    """A config given to init or update: a dict, an argparse Namespace, or an object."""
    if obj is None:
        return {}
    if isinstance(obj, Config):
        return obj.as_dict()
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, str):
        _note("a config file name (%s) is not read" % obj)
        return {}
    try:
        return dict(vars(obj))
    except TypeError:
        _note("a config of type %s is not read" % type(obj).__name__)
        return {}


class Config:
    """The run's config: the sweep's parameters win over values set in the script, as on
    W&B, where the sweep's values are locked."""

    def __init__(self, params):
        object.__setattr__(self, "_items", {k: _wrap(v) for k, v in params.items()})
        object.__setattr__(self, "_locked", set(params))

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self.update({key: value})

    def __getitem__(self, key):
        return self._items[key]

    def __setitem__(self, key, value):
        self.update({key: value})

    def __delitem__(self, key):
        del self._items[key]

    def __contains__(self, key):
        return key in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return repr(self.as_dict())

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()

    def get(self, key, default=None):
        return self._items.get(key, default)

    def as_dict(self):
        return {k: _plain(v) for k, v in self._items.items()}

    def update(self, d=None, allow_val_change=None, **kwargs):
        for key, value in list(_as_dict(d).items()) + list(kwargs.items()):
            if key in self._locked:
                if _plain(self._items[key]) != _plain(value):
                    _note("config.%s is set by the sweep; keeping the sweep's value" % key)
                continue
            self._items[key] = _wrap(value)

    def setdefaults(self, d):
        for key, value in _as_dict(d).items():
            if key not in self._items:
                self._items[key] = _wrap(value)

    def persist(self):
        pass


class Summary(dict):
    """The run's summary: setting a number reports it as the metric's last value."""

    def __init__(self, run):
        super().__init__()
        object.__setattr__(self, "_run", run)

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if self._run is not None:
            self._run._report({key: value}, self._run._last_step)

    def update(self, d=None, **kwargs):
        for key, value in list(dict(d or {}).items()) + list(kwargs.items()):
            self[key] = value


class _NoOp:
    """Whatever W&B has that means nothing here: callable, indexable, a context manager."""

    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        _note("%s is a no-op here" % self._name)
        return self

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return _NoOp(self._name + "." + key)

    def __setattr__(self, key, value):
        pass

    def __getitem__(self, key):
        return self

    def __setitem__(self, key, value):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False

    def __repr__(self):
        return "<wandb shim no-op %s>" % self._name


def _trial_params():
    try:
        params = json.loads(os.environ.get("SPOTSWEEP_PARAMS") or "{}")
    except ValueError:
        params = {}
    return params if isinstance(params, dict) else {}


class Run:
    """One trial's run."""

    def __init__(self, project=None, entity=None, name=None, config=None):
        trial = os.environ.get("SPOTSWEEP_TRIAL_ID", "0")
        self.id = "trial-%s" % trial
        self.name = name or self.id
        self.project = project
        self.entity = entity
        self.sweep_id = os.environ.get("SPOTSWEEP_SWEEP_ID")
        self.dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.config = Config(_trial_params())
        self.config.update(config)
        self.summary = Summary(self)
        self.step = 0
        self._last_step = 0
        self._finished = False

    def _report(self, data, step):
        metrics = {}
        for key, value in _flatten(data):
            number = _number(value)
            if number is None:
                _note("non-numeric values such as %s are not recorded"
                      % type(value).__name__)
                continue
            metrics[key] = number
        if metrics:
            _emit({"metrics": metrics, "step": step})

    def log(self, data, step=None, commit=None, sync=None):
        if not isinstance(data, dict):
            raise TypeError("wandb.log takes a dict")
        if step is not None:
            if step < self.step:
                _note("a step lower than the current one is ignored, as on W&B")
                return
            self.step = int(step)
        self._last_step = self.step
        self._report(data, self.step)
        for key, value in _flatten(data):
            dict.__setitem__(self.summary, key, value)
        if step is None and commit is not False:
            self.step += 1

    def finish(self, exit_code=None, quiet=None):
        self._finished = True
        sys.stdout.flush()
        sys.stderr.flush()
        global run
        if run is self:
            run = None

    def mark_preempting(self):
        sys.stdout.flush()
        _emit({"preempting": True})

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.finish(exit_code=0 if exc_type is None else 1)
        return False

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return _NoOp("run." + key)


def _flatten(data, prefix=""):
    for key, value in data.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


run = None
config = Config(_trial_params())
summary = Summary(None)


def init(project=None, entity=None, config=None, name=None, reinit=None, **kwargs):
    """Starts the trial's run (once: a second call returns the same run, as on W&B)."""
    global run, summary
    g = globals()
    if run is not None and not run._finished and not reinit:
        run.config.update(config)
        return run
    run = Run(project=project, entity=entity, name=name, config=config)
    g["config"] = run.config
    summary = run.summary
    return run


def log(data, step=None, commit=None, sync=None):
    if run is None:
        init()
    run.log(data, step=step, commit=commit)


def finish(exit_code=None, quiet=None):
    if run is not None:
        run.finish(exit_code=exit_code)


def mark_preempting():
    if run is None:
        init()
    run.mark_preempting()


def login(*args, **kwargs):
    return True


def sweep(sweep, entity=None, project=None, prior_runs=None):
    _note("wandb.sweep does not create a sweep here: spotsweep runs this as one trial")
    return "spotsweep-%s" % os.environ.get("SPOTSWEEP_SWEEP_ID", "0")


def agent(sweep_id, function=None, entity=None, project=None, count=None):
    """Runs function once: spotsweep's agent starts one process per trial."""
    if function is not None:
        function()


def define_metric(*args, **kwargs):
    return _NoOp("define_metric")(*args, **kwargs)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _NoOp(name)


class _SubmoduleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """import wandb.anything gives a module of no-ops rather than an ImportError."""

    def find_spec(self, fullname, path, target=None):
        if fullname.startswith(__name__ + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda key: _NoOp(spec.name + "." + key)
        return module

    def exec_module(self, module):
        pass


sys.meta_path.append(_SubmoduleFinder())
