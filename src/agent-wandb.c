/* The agent's W&B support (see agent-wandb.h). The shim is kept here as a C string so the
 * agent is one binary that needs nothing installed beside it; its readable source is
 * contrib/wandb_shim/wandb/__init__.py, and tests/check_wandb.c fails when the two differ
 * (regenerate this literal from that file after editing it). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/agent-trial.h"
#include "spotsweep/agent-wandb.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

const char agent_wandb_shim_py[] =
	"\"\"\"wandb, as spotsweep's agent provides it: a stand-in for the Weights & Biases client.\n"
	"\n"
	"With \"wandb_shim\": true in a sweep spec (or --wandb-shim), the agent writes this package\n"
	"into each attempt's folder and puts that folder first on PYTHONPATH, so a training script\n"
	"written for W&B sweeps runs unchanged, with no account and no network:\n"
	"\n"
	"  wandb.init()          returns a run whose config holds the trial's parameters\n"
	"                        (from SPOTSWEEP_PARAMS; attribute and item access, nested too)\n"
	"  wandb.config          the same config\n"
	"  wandb.log(d, step=)   prints SPOTSWEEP {\"metrics\": {...}, \"step\": N}, which the agent\n"
	"                        reports; nested dicts become dotted names, non-numbers are skipped\n"
	"  run.summary[k] = v    reports v as the last value of k\n"
	"  wandb.finish()        flushes; mark_preempting() tells the agent that the attempt is\n"
	"                        being preempted, so its exit counts as a preemption\n"
	"  wandb.agent(id, f)    calls f once: the agent runs one trial per process\n"
	"\n"
	"Everything else is a harmless no-op that says so once on stderr. This file is the source\n"
	"of the copy embedded in spotsweep-agent (src/agent-wandb.c); a unit test keeps them equal.\n"
	"\"\"\"\n"
	"\n"
	"import importlib.abc\n"
	"import importlib.machinery\n"
	"import json\n"
	"import math\n"
	"import os\n"
	"import sys\n"
	"import types\n"
	"\n"
	"__version__ = \"0.0.0+spotsweep\"\n"
	"\n"
	"_said = set()\n"
	"\n"
	"\n"
	"def _note(what):\n"
	"    \"\"\"Says once on stderr that something is not done here.\"\"\"\n"
	"    if what in _said:\n"
	"        return\n"
	"    _said.add(what)\n"
	"    sys.stderr.write(\"wandb (spotsweep shim): %s\\n\" % what)\n"
	"    sys.stderr.flush()\n"
	"\n"
	"\n"
	"def _emit(record):\n"
	"    sys.stdout.write(\"SPOTSWEEP \" + json.dumps(record, separators=(\",\", \":\")) + \"\\n\")\n"
	"    sys.stdout.flush()\n"
	"\n"
	"\n"
	"def _number(value):\n"
	"    \"\"\"The value as a finite float, or None when it is not a number to report.\"\"\"\n"
	"    if isinstance(value, (bool, _NoOp)):\n"
	"        return None\n"
	"    if not isinstance(value, (int, float)):\n"
	"        item = getattr(value, \"item\", None)  # numpy and torch scalars\n"
	"        if not callable(item):\n"
	"            return None\n"
	"        try:\n"
	"            value = item()\n"
	"        except Exception:\n"
	"            return None\n"
	"        if isinstance(value, bool) or not isinstance(value, (int, float)):\n"
	"            return None\n"
	"    value = float(value)\n"
	"    return value if math.isfinite(value) else None\n"
	"\n"
	"\n"
	"class _AttrDict(dict):\n"
	"    \"\"\"A dict whose keys are also attributes: config.optimizer.lr.\"\"\"\n"
	"\n"
	"    def __getattr__(self, key):\n"
	"        try:\n"
	"            return self[key]\n"
	"        except KeyError:\n"
	"            raise AttributeError(key) from None\n"
	"\n"
	"    def __setattr__(self, key, value):\n"
	"        self[key] = value\n"
	"\n"
	"\n"
	"def _wrap(value):\n"
	"    if isinstance(value, dict) and not isinstance(value, _AttrDict):\n"
	"        return _AttrDict((k, _wrap(v)) for k, v in value.items())\n"
	"    return value\n"
	"\n"
	"\n"
	"def _plain(value):\n"
	"    if isinstance(value, dict):\n"
	"        return {k: _plain(v) for k, v in value.items()}\n"
	"    return value\n"
	"\n"
	"\n"
	"def _as_dict(obj):\n"
	"    \"\"\"A config given to init or update: a dict, an argparse Namespace, or an object.\"\"\"\n"
	"    if obj is None:\n"
	"        return {}\n"
	"    if isinstance(obj, Config):\n"
	"        return obj.as_dict()\n"
	"    if isinstance(obj, dict):\n"
	"        return dict(obj)\n"
	"    if isinstance(obj, str):\n"
	"        _note(\"a config file name (%s) is not read\" % obj)\n"
	"        return {}\n"
	"    try:\n"
	"        return dict(vars(obj))\n"
	"    except TypeError:\n"
	"        _note(\"a config of type %s is not read\" % type(obj).__name__)\n"
	"        return {}\n"
	"\n"
	"\n"
	"class Config:\n"
	"    \"\"\"The run's config: the sweep's parameters win over values set in the script, as on\n"
	"    W&B, where the sweep's values are locked.\"\"\"\n"
	"\n"
	"    def __init__(self, params):\n"
	"        object.__setattr__(self, \"_items\", {k: _wrap(v) for k, v in params.items()})\n"
	"        object.__setattr__(self, \"_locked\", set(params))\n"
	"\n"
	"    def __getattr__(self, key):\n"
	"        if key.startswith(\"__\"):\n"
	"            raise AttributeError(key)\n"
	"        try:\n"
	"            return self._items[key]\n"
	"        except KeyError:\n"
	"            raise AttributeError(key) from None\n"
	"\n"
	"    def __setattr__(self, key, value):\n"
	"        self.update({key: value})\n"
	"\n"
	"    def __getitem__(self, key):\n"
	"        return self._items[key]\n"
	"\n"
	"    def __setitem__(self, key, value):\n"
	"        self.update({key: value})\n"
	"\n"
	"    def __delitem__(self, key):\n"
	"        del self._items[key]\n"
	"\n"
	"    def __contains__(self, key):\n"
	"        return key in self._items\n"
	"\n"
	"    def __iter__(self):\n"
	"        return iter(self._items)\n"
	"\n"
	"    def __len__(self):\n"
	"        return len(self._items)\n"
	"\n"
	"    def __repr__(self):\n"
	"        return repr(self.as_dict())\n"
	"\n"
	"    def keys(self):\n"
	"        return self._items.keys()\n"
	"\n"
	"    def values(self):\n"
	"        return self._items.values()\n"
	"\n"
	"    def items(self):\n"
	"        return self._items.items()\n"
	"\n"
	"    def get(self, key, default=None):\n"
	"        return self._items.get(key, default)\n"
	"\n"
	"    def as_dict(self):\n"
	"        return {k: _plain(v) for k, v in self._items.items()}\n"
	"\n"
	"    def update(self, d=None, allow_val_change=None, **kwargs):\n"
	"        for key, value in list(_as_dict(d).items()) + list(kwargs.items()):\n"
	"            if key in self._locked:\n"
	"                if _plain(self._items[key]) != _plain(value):\n"
	"                    _note(\"config.%s is set by the sweep; keeping the sweep's value\" % key)\n"
	"                continue\n"
	"            self._items[key] = _wrap(value)\n"
	"\n"
	"    def setdefaults(self, d):\n"
	"        for key, value in _as_dict(d).items():\n"
	"            if key not in self._items:\n"
	"                self._items[key] = _wrap(value)\n"
	"\n"
	"    def persist(self):\n"
	"        pass\n"
	"\n"
	"\n"
	"class Summary(dict):\n"
	"    \"\"\"The run's summary: setting a number reports it as the metric's last value.\"\"\"\n"
	"\n"
	"    def __init__(self, run):\n"
	"        super().__init__()\n"
	"        object.__setattr__(self, \"_run\", run)\n"
	"\n"
	"    def __getattr__(self, key):\n"
	"        try:\n"
	"            return self[key]\n"
	"        except KeyError:\n"
	"            raise AttributeError(key) from None\n"
	"\n"
	"    def __setattr__(self, key, value):\n"
	"        self[key] = value\n"
	"\n"
	"    def __setitem__(self, key, value):\n"
	"        super().__setitem__(key, value)\n"
	"        if self._run is not None:\n"
	"            self._run._report({key: value}, self._run._last_step)\n"
	"\n"
	"    def update(self, d=None, **kwargs):\n"
	"        for key, value in list(dict(d or {}).items()) + list(kwargs.items()):\n"
	"            self[key] = value\n"
	"\n"
	"\n"
	"class _NoOp:\n"
	"    \"\"\"Whatever W&B has that means nothing here: callable, indexable, a context manager.\"\"\"\n"
	"\n"
	"    def __init__(self, name):\n"
	"        object.__setattr__(self, \"_name\", name)\n"
	"\n"
	"    def __call__(self, *args, **kwargs):\n"
	"        _note(\"%s is a no-op here\" % self._name)\n"
	"        return self\n"
	"\n"
	"    def __getattr__(self, key):\n"
	"        if key.startswith(\"__\"):\n"
	"            raise AttributeError(key)\n"
	"        return _NoOp(self._name + \".\" + key)\n"
	"\n"
	"    def __setattr__(self, key, value):\n"
	"        pass\n"
	"\n"
	"    def __getitem__(self, key):\n"
	"        return self\n"
	"\n"
	"    def __setitem__(self, key, value):\n"
	"        pass\n"
	"\n"
	"    def __enter__(self):\n"
	"        return self\n"
	"\n"
	"    def __exit__(self, *exc):\n"
	"        return False\n"
	"\n"
	"    def __iter__(self):\n"
	"        return iter(())\n"
	"\n"
	"    def __bool__(self):\n"
	"        return False\n"
	"\n"
	"    def __repr__(self):\n"
	"        return \"<wandb shim no-op %s>\" % self._name\n"
	"\n"
	"\n"
	"def _trial_params():\n"
	"    try:\n"
	"        params = json.loads(os.environ.get(\"SPOTSWEEP_PARAMS\") or \"{}\")\n"
	"    except ValueError:\n"
	"        params = {}\n"
	"    return params if isinstance(params, dict) else {}\n"
	"\n"
	"\n"
	"class Run:\n"
	"    \"\"\"One trial's run.\"\"\"\n"
	"\n"
	"    def __init__(self, project=None, entity=None, name=None, config=None):\n"
	"        trial = os.environ.get(\"SPOTSWEEP_TRIAL_ID\", \"0\")\n"
	"        self.id = \"trial-%s\" % trial\n"
	"        self.name = name or self.id\n"
	"        self.project = project\n"
	"        self.entity = entity\n"
	"        self.sweep_id = os.environ.get(\"SPOTSWEEP_SWEEP_ID\")\n"
	"        self.dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n"
	"        self.config = Config(_trial_params())\n"
	"        self.config.update(config)\n"
	"        self.summary = Summary(self)\n"
	"        self.step = 0\n"
	"        self._last_step = 0\n"
	"        self._finished = False\n"
	"\n"
	"    def _report(self, data, step):\n"
	"        metrics = {}\n"
	"        for key, value in _flatten(data):\n"
	"            number = _number(value)\n"
	"            if number is None:\n"
	"                _note(\"non-numeric values such as %s are not recorded\"\n"
	"                      % type(value).__name__)\n"
	"                continue\n"
	"            metrics[key] = number\n"
	"        if metrics:\n"
	"            _emit({\"metrics\": metrics, \"step\": step})\n"
	"\n"
	"    def log(self, data, step=None, commit=None, sync=None):\n"
	"        if not isinstance(data, dict):\n"
	"            raise TypeError(\"wandb.log takes a dict\")\n"
	"        if step is not None:\n"
	"            if step < self.step:\n"
	"                _note(\"a step lower than the current one is ignored, as on W&B\")\n"
	"                return\n"
	"            self.step = int(step)\n"
	"        self._last_step = self.step\n"
	"        self._report(data, self.step)\n"
	"        for key, value in _flatten(data):\n"
	"            dict.__setitem__(self.summary, key, value)\n"
	"        if step is None and commit is not False:\n"
	"            self.step += 1\n"
	"\n"
	"    def finish(self, exit_code=None, quiet=None):\n"
	"        self._finished = True\n"
	"        sys.stdout.flush()\n"
	"        sys.stderr.flush()\n"
	"        global run\n"
	"        if run is self:\n"
	"            run = None\n"
	"\n"
	"    def mark_preempting(self):\n"
	"        sys.stdout.flush()\n"
	"        _emit({\"preempting\": True})\n"
	"\n"
	"    def __enter__(self):\n"
	"        return self\n"
	"\n"
	"    def __exit__(self, exc_type, exc, tb):\n"
	"        self.finish(exit_code=0 if exc_type is None else 1)\n"
	"        return False\n"
	"\n"
	"    def __getattr__(self, key):\n"
	"        if key.startswith(\"__\"):\n"
	"            raise AttributeError(key)\n"
	"        return _NoOp(\"run.\" + key)\n"
	"\n"
	"\n"
	"def _flatten(data, prefix=\"\"):\n"
	"    for key, value in data.items():\n"
	"        name = prefix + str(key)\n"
	"        if isinstance(value, dict):\n"
	"            yield from _flatten(value, name + \".\")\n"
	"        else:\n"
	"            yield name, value\n"
	"\n"
	"\n"
	"run = None\n"
	"config = Config(_trial_params())\n"
	"summary = Summary(None)\n"
	"\n"
	"\n"
	"def init(project=None, entity=None, config=None, name=None, reinit=None, **kwargs):\n"
	"    \"\"\"Starts the trial's run (once: a second call returns the same run, as on W&B).\"\"\"\n"
	"    global run, summary\n"
	"    g = globals()\n"
	"    if run is not None and not run._finished and not reinit:\n"
	"        run.config.update(config)\n"
	"        return run\n"
	"    run = Run(project=project, entity=entity, name=name, config=config)\n"
	"    g[\"config\"] = run.config\n"
	"    summary = run.summary\n"
	"    return run\n"
	"\n"
	"\n"
	"def log(data, step=None, commit=None, sync=None):\n"
	"    if run is None:\n"
	"        init()\n"
	"    run.log(data, step=step, commit=commit)\n"
	"\n"
	"\n"
	"def finish(exit_code=None, quiet=None):\n"
	"    if run is not None:\n"
	"        run.finish(exit_code=exit_code)\n"
	"\n"
	"\n"
	"def mark_preempting():\n"
	"    if run is None:\n"
	"        init()\n"
	"    run.mark_preempting()\n"
	"\n"
	"\n"
	"def login(*args, **kwargs):\n"
	"    return True\n"
	"\n"
	"\n"
	"def sweep(sweep, entity=None, project=None, prior_runs=None):\n"
	"    _note(\"wandb.sweep does not create a sweep here: spotsweep runs this as one trial\")\n"
	"    return \"spotsweep-%s\" % os.environ.get(\"SPOTSWEEP_SWEEP_ID\", \"0\")\n"
	"\n"
	"\n"
	"def agent(sweep_id, function=None, entity=None, project=None, count=None):\n"
	"    \"\"\"Runs function once: spotsweep's agent starts one process per trial.\"\"\"\n"
	"    if function is not None:\n"
	"        function()\n"
	"\n"
	"\n"
	"def define_metric(*args, **kwargs):\n"
	"    return _NoOp(\"define_metric\")(*args, **kwargs)\n"
	"\n"
	"\n"
	"def __getattr__(name):\n"
	"    if name.startswith(\"__\"):\n"
	"        raise AttributeError(name)\n"
	"    return _NoOp(name)\n"
	"\n"
	"\n"
	"class _SubmoduleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
	"    \"\"\"import wandb.anything gives a module of no-ops rather than an ImportError.\"\"\"\n"
	"\n"
	"    def find_spec(self, fullname, path, target=None):\n"
	"        if fullname.startswith(__name__ + \".\"):\n"
	"            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)\n"
	"        return None\n"
	"\n"
	"    def create_module(self, spec):\n"
	"        module = types.ModuleType(spec.name)\n"
	"        module.__path__ = []\n"
	"        module.__getattr__ = lambda key: _NoOp(spec.name + \".\" + key)\n"
	"        return module\n"
	"\n"
	"    def exec_module(self, module):\n"
	"        pass\n"
	"\n"
	"\n"
	"sys.meta_path.append(_SubmoduleFinder())\n"
;

/* Writes text to path through a temporary file and a rename, so a reader never sees half. */
static int
write_file(const char *path, const char *text, size_t len, char **cause)
{
	char *tmp = xasprintf("%s.tmp", path);
	size_t off = 0;
	ssize_t n;
	int fd, rc = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		*cause = xasprintf("cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*cause = xasprintf("cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		*cause = xasprintf("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

int
agent_wandb_setup(struct agent_trial *t, const json_t *lease, struct agent_placeholders *ph,
    char **cause)
{
	const json_t *cmd = json_object_get(lease, "command"), *prog;
	struct buf b = { 0 };
	char *pkg = NULL, *path = NULL;
	bool args_file;
	size_t n;
	int rc = -1;

	prog = json_object_get(lease, "program");
	ph->program = json_is_string(prog) ? json_string_value(prog) : NULL;
	t->wandb_shim = json_is_true(json_object_get(lease, "wandb_shim"));
	args_file = json_is_string(cmd) &&
	    strstr(json_string_value(cmd), "${args_json_file}") != NULL;
	if (!t->wandb_shim && !args_file)
		return 0;

	/* the log is DIR/attempt-A.log; the attempt's folder is DIR/attempt-A */
	n = strlen(t->log_path);
	t->attempt_dir = xstrndup(t->log_path, n > 4 ? n - 4 : n);
	if (agent_mkdirs(t->attempt_dir, cause) != 0)
		goto out;
	if (args_file) {
		if (t->params != NULL)
			agent_py_json(&b, t->params);
		else
			buf_adds(&b, "{}");
		buf_addc(&b, '\n');
		t->args_file = xasprintf("%s/args.json", t->attempt_dir);
		if (write_file(t->args_file, b.data, b.len, cause) != 0)
			goto out;
		ph->args_json_file = t->args_file;
	}
	if (t->wandb_shim) {
		pkg = xasprintf("%s/wandb", t->attempt_dir);
		path = xasprintf("%s/__init__.py", pkg);
		if (agent_mkdirs(pkg, cause) != 0 ||
		    write_file(path, agent_wandb_shim_py, strlen(agent_wandb_shim_py),
		    cause) != 0)
			goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	free(pkg);
	free(path);
	return rc;
}

char *
agent_wandb_pythonpath(const char *dir, const char *inherited)
{
	if (inherited == NULL || *inherited == '\0')
		return xasprintf("PYTHONPATH=%s", dir);
	return xasprintf("PYTHONPATH=%s:%s", dir, inherited);
}
