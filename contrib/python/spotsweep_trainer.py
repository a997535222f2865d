"""Helpers for training scripts run by spotsweep (standard library only, Python 3.9+).

A trial launched by spotsweep-agent reads its parameters and checkpoint locations from the
environment and reports through its output (spotsweep-agent(1), "REPORTING FROM A TRIAL").
This module wraps that contract:

    import spotsweep_trainer as st

    lr = float(st.param("lr", 1e-3))
    state, start = {"step": 0}, 0
    ckpt = st.latest_checkpoint()             # SPOTSWEEP_RESUME_FROM, or None
    if ckpt:
        state = json.load(open(ckpt)); start = state["step"]

    def save():
        st.save_checkpoint(state["step"], lambda p: json.dump(state, open(p, "w")))

    st.handle_preemption(save)                # SIGTERM: save, then exit 143

    for step in range(start + 1, steps + 1):
        state["step"] = step
        ...
        st.report(step=step, val_loss=loss)
        if step % 100 == 0:
            save()

What the agent expects, and why the helpers do what they do:
- Metrics are lines "SPOTSWEEP {"metrics": {...}, "step": N}" on stdout. Values must be
  finite numbers (JSON has no NaN): non-finite ones are dropped with one warning on stderr.
  Give explicit steps, so that a resumed attempt's points continue the earlier curve.
- A checkpoint is recorded only if its path exists when the agent reads the line, so it is
  written to a temporary name in the same directory, flushed to disk, renamed into place
  (atomic), and only then reported. A half-written file never carries the final name.
- On preemption the agent sends SIGTERM to the trial's process group and SIGKILL after its
  grace period (--grace-s, 25 s by default): save within that time. The handler first prints
  {"preempting": true}, so that the exit counts as a preemption even when the SIGTERM did not
  come from the agent (systemd stopping the whole unit, Slurm signalling the job step), and
  exits 143 (128 + SIGTERM). Never 0: an exit status 0 always counts as "succeeded".
- The resume point is the scheduler's: SPOTSWEEP_RESUME_FROM, else the newest of
  SPOTSWEEP_CHECKPOINTS that exists on this machine. Outside spotsweep (no SPOTSWEEP_TRIAL_ID)
  the newest step-N checkpoint in the checkpoint directory is used, for local runs.
"""

import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import traceback

__all__ = [
    "PREEMPTED_EXIT_CODE", "in_spotsweep", "sweep_id", "trial_id", "attempt", "params",
    "param", "checkpoint_dir", "checkpoint_path", "checkpoints", "latest_checkpoint",
    "step_of", "report", "report_checkpoint", "save_checkpoint", "handle_preemption",
    "stop_requested", "exit_preempted",
]

# 128 + SIGTERM: what a shell reports for a process killed by SIGTERM. Any non-zero status
# after the "preempting" line makes the attempt preempted; 0 would make it succeeded.
PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM

_STEP_NAME = re.compile(r"^step-(\d+)(?:\..*)?$")

# Where lines go: None is the process's stdout (fd 1, written whole with os.write so that a
# line printed from the signal handler cannot be torn by, or tear, one being printed).
_stream = None
_warned_nonfinite = False
_stop_requested = False
_preempting_sent = False
_in_handler = False


def _env(name):
    value = os.environ.get(name, "")
    return value if value != "" else None


def in_spotsweep():
    """True when this process is a trial started by spotsweep-agent."""
    return _env("SPOTSWEEP_TRIAL_ID") is not None


def _env_int(name):
    value = _env(name)
    return int(value) if value is not None else None


def sweep_id():
    """The sweep's id (SPOTSWEEP_SWEEP_ID), or None outside spotsweep."""
    return _env_int("SPOTSWEEP_SWEEP_ID")


def trial_id():
    """The trial's id (SPOTSWEEP_TRIAL_ID), or None outside spotsweep."""
    return _env_int("SPOTSWEEP_TRIAL_ID")


def attempt():
    """The attempt number, from 1 (SPOTSWEEP_ATTEMPT), or None outside spotsweep."""
    return _env_int("SPOTSWEEP_ATTEMPT")


def params():
    """The trial's parameters (SPOTSWEEP_PARAMS, nested blocks nested), or {}."""
    text = _env("SPOTSWEEP_PARAMS")
    return json.loads(text) if text is not None else {}


def param(name, default=None):
    """One parameter by name; a dotted name ("optimizer.momentum") reaches into a block."""
    value = params()
    for key in name.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def checkpoint_dir(default="checkpoints", create=True):
    """The trial's checkpoint directory (SPOTSWEEP_CHECKPOINT_DIR, the same for every
    attempt), else default; made absolute, and created unless create is False."""
    path = os.path.abspath(_env("SPOTSWEEP_CHECKPOINT_DIR") or default)
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def checkpoint_path(step, suffix=".ckpt", directory=None):
    """Where save_checkpoint() puts the checkpoint of step: DIR/step-STEP.SUFFIX."""
    step = _check_step(step)
    return os.path.join(directory or checkpoint_dir(), "step-%d%s" % (step, suffix))


def step_of(path):
    """The step in a checkpoint name written by save_checkpoint(), or None."""
    match = _STEP_NAME.match(os.path.basename(path.rstrip("/"))) if path else None
    return int(match.group(1)) if match else None


def checkpoints():
    """The kept checkpoints the scheduler listed for this attempt, newest first."""
    text = os.environ.get("SPOTSWEEP_CHECKPOINTS", "")
    return [line for line in text.split("\n") if line != ""]


def latest_checkpoint(directory=None):
    """The checkpoint to resume from, or None to start afresh.

    Under spotsweep: SPOTSWEEP_RESUME_FROM when it exists here, else the newest entry of
    SPOTSWEEP_CHECKPOINTS that does (the scheduler's record is the truth: a file it never
    acknowledged is not trusted). Outside spotsweep: the step-N entry of the checkpoint
    directory with the highest N."""
    if in_spotsweep():
        candidates = []
        resume = _env("SPOTSWEEP_RESUME_FROM")
        if resume is not None:
            candidates.append(resume)
        candidates.extend(checkpoints())
        for path in candidates:
            if os.path.exists(path):
                return path
        return None
    directory = directory or checkpoint_dir(create=False)
    best, best_step = None, -1
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return None
    for name in names:
        step = step_of(name)
        if step is not None and step > best_step:
            best, best_step = os.path.join(directory, name), step
    return best


def _check_step(step):
    if isinstance(step, bool) or not isinstance(step, int):
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        else:
            raise TypeError("step must be a non-negative integer, not %r" % (step,))
    if step < 0:
        raise ValueError("step must be a non-negative integer, not %d" % step)
    return step


def _write_fd(fd, data):
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _emit(obj):
    line = "SPOTSWEEP " + json.dumps(obj, separators=(", ", ": "), allow_nan=False) + "\n"
    if _stream is not None:
        _stream.write(line)
        _stream.flush()
        return
    # What the program printed before must reach the agent first; a flush interrupted by
    # the signal handler (reentrant call) is harmless, the bytes stay buffered.
    try:
        sys.stdout.flush()
    except (RuntimeError, ValueError, OSError):
        pass
    _write_fd(1, line.encode("utf-8"))


def _number(name, value):
    global _warned_nonfinite
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise TypeError("metric %r: expected a number, not %r" % (name, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError("metric %r: expected a number, not %r" % (name, value)) from None
    if not math.isfinite(number):
        if not _warned_nonfinite:
            sys.stderr.write("spotsweep_trainer: metric %r is %r; non-finite values are "
                             "not reported (this warning is shown once)\n" % (name, number))
            _warned_nonfinite = True
        return None
    return int(value) if isinstance(value, int) else number


def report(metrics=None, step=None, **named):
    """Reports metric values: report({"val_loss": 0.3}, step=10) or report(step=10,
    val_loss=0.3). Without step the agent numbers the points 1, 2, 3, ... per metric and
    attempt; give steps when the trial resumes from checkpoints."""
    values = dict(metrics or {})
    values.update(named)
    out = {}
    for name, value in values.items():
        if not isinstance(name, str) or name == "" or any(ord(c) < 0x20 or c == "\x7f"
                                                            for c in name):
            raise ValueError("metric name %r: expected a non-empty name without control "
                             "characters" % (name,))
        number = _number(name, value)
        if number is not None:
            out[name] = number
    if not out:
        return
    obj = {"metrics": out}
    if step is not None:
        obj["step"] = _check_step(step)
    _emit(obj)


def report_checkpoint(path, step=None):
    """Tells the agent about a checkpoint that is completely written at path (a file or a
    directory); the path is made absolute. save_checkpoint() calls this itself."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError("checkpoint %s does not exist: write it before reporting it"
                                % path)
    obj = {"checkpoint": path}
    if step is not None:
        obj["step"] = _check_step(step)
    _emit(obj)


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path):
    if os.path.isdir(path) and not os.path.islink(path):
        for root, _dirs, files in os.walk(path):
            for name in files:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            _fsync_dir(root)
    elif os.path.isfile(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def save_checkpoint(step, data, suffix=".ckpt", directory=None, report=True):
    """Writes the checkpoint of step atomically and reports it; returns its path.

    data is bytes or str (written as they are), or a function called with a temporary path
    that it must create: a file (torch.save(state, path)) or a directory. The result is
    flushed to disk and renamed to DIR/step-STEP.SUFFIX, so that name only ever holds a
    complete checkpoint; then the SPOTSWEEP checkpoint line is printed (report=False
    leaves that to the caller). On an exception nothing is left behind."""
    step = _check_step(step)
    directory = os.path.abspath(directory or checkpoint_dir())
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, "step-%d%s" % (step, suffix))
    # A fresh name in the same directory (same file system, so the rename is atomic); the
    # leading dot keeps it out of latest_checkpoint()'s step-N scan.
    handle, tmp = tempfile.mkstemp(prefix=".step-%d%s." % (step, suffix), suffix=".tmp",
                                   dir=directory)
    try:
        if callable(data):
            os.close(handle)
            handle = None
            os.unlink(tmp)
            data(tmp)
            if not os.path.lexists(tmp):
                raise RuntimeError("the checkpoint writer did not create %s" % tmp)
        else:
            payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            _write_fd(handle, payload)
            os.close(handle)
            handle = None
        _fsync_tree(tmp)
        if os.path.isdir(final) and not os.path.islink(final):
            # A directory cannot replace a non-empty one: move the old one aside first.
            aside = final + ".old-%d" % os.getpid()
            os.replace(final, aside)
            os.replace(tmp, final)
            _remove(aside)
        else:
            os.replace(tmp, final)
        _fsync_dir(directory)
    except BaseException:
        if handle is not None:
            os.close(handle)
        _remove(tmp)
        raise
    if report:
        report_checkpoint(final, step)
    return final


def stop_requested():
    """True once SIGTERM arrived (see handle_preemption with save=None)."""
    return _stop_requested


def exit_preempted(code=PREEMPTED_EXIT_CODE):
    """Marks the attempt as preempted and exits with code (143): for a loop that saw
    stop_requested() and saved at a safe point."""
    global _preempting_sent
    if code == 0:
        raise ValueError("a preempted trial must not exit 0: that counts as succeeded")
    if not _preempting_sent:
        _emit({"preempting": True})
        _preempting_sent = True
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (RuntimeError, ValueError, OSError):
        pass
    sys.exit(code)


def handle_preemption(save=None, exit_code=PREEMPTED_EXIT_CODE, signals=(signal.SIGTERM,)):
    """Installs the SIGTERM handler of a preemptible trainer; returns the previous handlers.

    The handler prints {"preempting": true} as soon as the signal arrives. With save, it
    then calls save() (which should call save_checkpoint) and exits exit_code. The handler runs in the main thread between two
    Python bytecodes, so save() may see the training state in the middle of an update: keep
    the state it saves consistent (e.g. the last completed step), or pass save=None and
    check stop_requested() at a safe point of the loop, save there, then exit_preempted().
    A second signal while save() runs is ignored; the agent's SIGKILL ends it when the grace
    period is over."""
    if exit_code == 0:
        raise ValueError("a preempted trial must not exit 0: that counts as succeeded")

    def on_signal(signum, frame):
        global _stop_requested, _preempting_sent, _in_handler
        _stop_requested = True
        # At once, also when the loop saves later: a kill before that still counts as a
        # preemption.
        if not _preempting_sent:
            _preempting_sent = True
            _emit({"preempting": True})
        if save is None or _in_handler:
            return
        _in_handler = True
        sys.stderr.write("spotsweep_trainer: %s: saving a checkpoint before exiting\n"
                         % signal.Signals(signum).name)
        try:
            save()
        except Exception:  # still exit as preempted: the previous checkpoint stands
            traceback.print_exc()
        exit_preempted(exit_code)

    previous = {}
    for signum in signals:
        previous[signum] = signal.signal(signum, on_signal)
    return previous
