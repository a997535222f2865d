"""Tests of spotsweep_trainer: python3 -m unittest discover -s contrib/python

The lines are checked against what spotsweep-agent accepts (SPOTSWEEP, a blank, one JSON
object; finite numbers; absolute checkpoint paths that exist), and the SIGTERM handler in
real subprocesses that get a real SIGTERM."""
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import spotsweep_trainer as st  # noqa: E402

ENV_KEYS = ("SPOTSWEEP_SWEEP_ID", "SPOTSWEEP_TRIAL_ID", "SPOTSWEEP_ATTEMPT", "SPOTSWEEP_PARAMS",
            "SPOTSWEEP_CHECKPOINT_DIR", "SPOTSWEEP_RESUME_FROM", "SPOTSWEEP_CHECKPOINTS")


def parse_lines(text):
    """The JSON objects of the SPOTSWEEP lines in text, as the agent reads them."""
    out = []
    for line in text.splitlines():
        if line.startswith("SPOTSWEEP "):
            out.append(json.loads(line[len("SPOTSWEEP "):]))
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.out = io.StringIO()
        patcher = mock.patch.object(st, "_stream", self.out)
        patcher.start()
        self.addCleanup(patcher.stop)
        env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
        envp = mock.patch.dict(os.environ, env, clear=True)
        envp.start()
        self.addCleanup(envp.stop)
        st._warned_nonfinite = False

    def lines(self):
        return parse_lines(self.out.getvalue())


class TestEnvironment(Base):
    def test_values_from_the_environment(self):
        cases = [
            ({}, dict(in_spotsweep=False, sweep_id=None, trial_id=None, attempt=None,
                      params={})),
            ({"SPOTSWEEP_SWEEP_ID": "3", "SPOTSWEEP_TRIAL_ID": "17", "SPOTSWEEP_ATTEMPT": "2",
              "SPOTSWEEP_PARAMS": '{"lr": 0.01, "opt": {"name": "sgd", "m": 0.9}}'},
             dict(in_spotsweep=True, sweep_id=3, trial_id=17, attempt=2,
                  params={"lr": 0.01, "opt": {"name": "sgd", "m": 0.9}})),
        ]
        for env, want in cases:
            with self.subTest(env=env), mock.patch.dict(os.environ, env):
                self.assertEqual(st.in_spotsweep(), want["in_spotsweep"])
                self.assertEqual(st.sweep_id(), want["sweep_id"])
                self.assertEqual(st.trial_id(), want["trial_id"])
                self.assertEqual(st.attempt(), want["attempt"])
                self.assertEqual(st.params(), want["params"])

    def test_param_lookup(self):
        os.environ["SPOTSWEEP_PARAMS"] = '{"lr": 0.01, "opt": {"name": "sgd", "m": 0.9}}'
        cases = [("lr", None, 0.01), ("opt.name", None, "sgd"), ("opt.m", None, 0.9),
                 ("opt", None, {"name": "sgd", "m": 0.9}), ("missing", 5, 5),
                 ("lr.x", "d", "d"), ("opt.missing", None, None)]
        for name, default, want in cases:
            with self.subTest(name=name):
                self.assertEqual(st.param(name, default), want)

    def test_checkpoint_dir(self):
        inside = os.path.join(self.tmp.name, "ckpt", "sweep-1", "trial-2")
        cases = [({"SPOTSWEEP_CHECKPOINT_DIR": inside}, inside),
                 ({}, os.path.join(self.tmp.name, "checkpoints"))]
        old = os.getcwd()
        os.chdir(self.tmp.name)
        self.addCleanup(os.chdir, old)
        for env, want in cases:
            with self.subTest(env=env), mock.patch.dict(os.environ, env):
                got = st.checkpoint_dir()
                self.assertEqual(os.path.realpath(got), os.path.realpath(want))
                self.assertTrue(os.path.isabs(got))
                self.assertTrue(os.path.isdir(got))


class TestReport(Base):
    def test_lines(self):
        cases = [
            (({"val_loss": 0.5}, 3), {}, [{"metrics": {"val_loss": 0.5}, "step": 3}]),
            ((None, None), {"val_loss": 1, "acc": 0.25},
             [{"metrics": {"val_loss": 1, "acc": 0.25}}]),
            (({"a": 1.0}, 7.0), {"b": 2}, [{"metrics": {"a": 1.0, "b": 2}, "step": 7}]),
            (({"loss": float("nan")}, 1), {}, []),
            (({"loss": float("inf"), "acc": 0.5}, 2), {}, [{"metrics": {"acc": 0.5},
                                                            "step": 2}]),
            (({}, 1), {}, []),
        ]
        for (metrics, step), named, want in cases:
            with self.subTest(metrics=metrics, named=named):
                self.out.seek(0)
                self.out.truncate()
                with mock.patch("sys.stderr", io.StringIO()):
                    st.report(metrics, step=step, **named)
                self.assertEqual(self.lines(), want)
                for line in self.out.getvalue().splitlines():
                    self.assertRegex(line, r"^SPOTSWEEP \{.*\}$")

    def test_numbers_like_objects(self):
        class Scalar:  # a numpy or torch scalar converts with float()
            def __float__(self):
                return 0.125
        st.report({"x": Scalar()}, step=1)
        self.assertEqual(self.lines(), [{"metrics": {"x": 0.125}, "step": 1}])

    def test_refused(self):
        cases = [({"x": True}, 1, TypeError), ({"x": "0.5"}, 1, TypeError),
                 ({"x": None}, 1, TypeError), ({"": 1}, 1, ValueError),
                 ({"a\nb": 1}, 1, ValueError), ({"x": 1}, -1, ValueError),
                 ({"x": 1}, 1.5, TypeError), ({"x": 1}, "3", TypeError)]
        for metrics, step, exc in cases:
            with self.subTest(metrics=metrics, step=step):
                with self.assertRaises(exc):
                    st.report(metrics, step=step)
        self.assertEqual(self.lines(), [])

    def test_nonfinite_warns_once(self):
        err = io.StringIO()
        with mock.patch("sys.stderr", err):
            st.report({"loss": float("nan")}, step=1)
            st.report({"loss": float("-inf")}, step=2)
        self.assertEqual(err.getvalue().count("non-finite"), 1)


class TestCheckpoints(Base):
    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.tmp.name, "ckpt")
        os.environ["SPOTSWEEP_CHECKPOINT_DIR"] = self.dir

    def leftovers(self):
        return [n for n in os.listdir(self.dir) if not n.startswith("step-")]

    def test_save_kinds(self):
        def write_file(path):
            with open(path, "w") as f:
                f.write("callable")

        def write_dir(path):
            os.mkdir(path)
            with open(os.path.join(path, "model.bin"), "wb") as f:
                f.write(b"\x00\x01")

        cases = [(1, b"raw bytes", ".ckpt", b"raw bytes"),
                 (2, "text", ".txt", b"text"),
                 (3, write_file, ".pt", b"callable"),
                 (4, write_dir, "", None)]
        for step, data, suffix, want in cases:
            with self.subTest(step=step):
                path = st.save_checkpoint(step, data, suffix=suffix)
                self.assertEqual(path, os.path.join(self.dir, "step-%d%s" % (step, suffix)))
                if want is None:
                    with open(os.path.join(path, "model.bin"), "rb") as f:
                        self.assertEqual(f.read(), b"\x00\x01")
                else:
                    with open(path, "rb") as f:
                        self.assertEqual(f.read(), want)
                self.assertEqual(self.lines()[-1], {"checkpoint": path, "step": step})
                self.assertEqual(st.step_of(path), step)
        self.assertEqual(self.leftovers(), [])

    def test_same_step_again_replaces(self):
        def write_dir(tag):
            def w(path):
                os.mkdir(path)
                with open(os.path.join(path, "tag"), "w") as f:
                    f.write(tag)
            return w
        for data in (b"one", b"two"):
            path = st.save_checkpoint(5, data)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"two")
        for tag in ("a", "b"):
            path = st.save_checkpoint(6, write_dir(tag), suffix="")
        with open(os.path.join(path, "tag")) as f:
            self.assertEqual(f.read(), "b")
        self.assertEqual(self.leftovers(), [])

    def test_failed_write_leaves_nothing(self):
        def bad(path):
            with open(path, "w") as f:
                f.write("half")
            raise OSError("disk full")

        def nothing(path):
            pass

        for writer, exc in ((bad, OSError), (nothing, RuntimeError)):
            with self.subTest(writer=writer.__name__):
                with self.assertRaises(exc):
                    st.save_checkpoint(9, writer)
                self.assertFalse(os.path.exists(os.path.join(self.dir, "step-9.ckpt")))
                self.assertEqual(os.listdir(self.dir), [])
        self.assertEqual(self.lines(), [])

    def test_report_checkpoint(self):
        rel = "relative.bin"
        old = os.getcwd()
        os.chdir(self.tmp.name)
        self.addCleanup(os.chdir, old)
        with open(rel, "w") as f:
            f.write("x")
        st.report_checkpoint(rel, step=4)
        st.report_checkpoint(rel)
        self.assertEqual(self.lines(), [
            {"checkpoint": os.path.join(os.getcwd(), rel), "step": 4},
            {"checkpoint": os.path.join(os.getcwd(), rel)}])
        with self.assertRaises(FileNotFoundError):
            st.report_checkpoint("missing.bin")

    def test_latest_checkpoint(self):
        os.makedirs(self.dir)
        paths = {}
        for step in (2, 10, 7):
            paths[step] = os.path.join(self.dir, "step-%d.ckpt" % step)
            with open(paths[step], "w") as f:
                f.write(str(step))
        open(os.path.join(self.dir, ".step-11.ckpt.x.tmp"), "w").close()
        gone = os.path.join(self.dir, "step-12.ckpt")
        cases = [
            ("outside spotsweep: highest step in the directory", {}, paths[10]),
            ("RESUME_FROM", {"SPOTSWEEP_TRIAL_ID": "1", "SPOTSWEEP_RESUME_FROM": paths[7],
                             "SPOTSWEEP_CHECKPOINTS": paths[7] + "\n" + paths[2]}, paths[7]),
            ("RESUME_FROM missing here: the newest listed that exists",
             {"SPOTSWEEP_TRIAL_ID": "1", "SPOTSWEEP_RESUME_FROM": gone,
              "SPOTSWEEP_CHECKPOINTS": gone + "\n" + paths[2] + "\n"}, paths[2]),
            ("first attempt: nothing, whatever the directory holds",
             {"SPOTSWEEP_TRIAL_ID": "1", "SPOTSWEEP_RESUME_FROM": "",
              "SPOTSWEEP_CHECKPOINTS": ""}, None),
        ]
        for what, env, want in cases:
            with self.subTest(what), mock.patch.dict(os.environ, env):
                self.assertEqual(st.latest_checkpoint(), want)

    def test_step_of(self):
        cases = [("/a/step-12.pt", 12), ("step-0", 0), ("/a/step-3.tar.gz", 3),
                 ("/a/step-4/", 4), ("/a/ckpt-3.pt", None), ("", None), (None, None),
                 ("/a/.step-3.pt.x.tmp", None)]
        for path, want in cases:
            with self.subTest(path=path):
                self.assertEqual(st.step_of(path), want)


# A trainer for the subprocess tests: prints "ready", counts steps, saves in the handler
# (or at the loop's next safe point with save=None), and never finishes on its own.
CHILD = r"""
import json, os, sys, time
sys.path.insert(0, %(here)r)
import spotsweep_trainer as st
mode = sys.argv[1]
state = {"step": 0}
def save():
    snap = dict(state)
    st.save_checkpoint(snap["step"], json.dumps(snap), suffix=".json")
if mode == "handler":
    st.handle_preemption(save)
elif mode == "failing-save":
    def bad():
        raise OSError("no space left")
    st.handle_preemption(bad)
else:
    st.handle_preemption()
print("ready", flush=True)
while True:
    time.sleep(0.01)
    state = {"step": state["step"] + 1}
    st.report(step=state["step"], loss=1.0 / state["step"])
    if st.stop_requested():
        save()
        st.exit_preempted()
"""


class TestSigterm(unittest.TestCase):
    """A real child process gets a real SIGTERM."""

    def run_child(self, mode, signals=1):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        ckdir = os.path.join(tmp.name, "ckpt")
        env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
        env.update(SPOTSWEEP_TRIAL_ID="1", SPOTSWEEP_ATTEMPT="1",
                   SPOTSWEEP_CHECKPOINT_DIR=ckdir, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-c", CHILD % {"here": HERE}, mode],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.assertEqual(proc.stdout.readline(), b"ready\n")
        time.sleep(0.3)  # some steps, so the saved one is past 0
        for _ in range(signals):
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out.decode(), err.decode(), ckdir

    def test_saves_and_exits_preempted(self):
        for mode, signals in (("handler", 1), ("handler", 3), ("deferred", 1)):
            with self.subTest(mode=mode, signals=signals):
                rc, out, err, ckdir = self.run_child(mode, signals)
                self.assertEqual(rc, st.PREEMPTED_EXIT_CODE, err)
                self.assertEqual(rc, 143)
                objs = parse_lines(out)
                marks = [i for i, o in enumerate(objs) if o == {"preempting": True}]
                ckpts = [i for i, o in enumerate(objs) if "checkpoint" in o]
                self.assertEqual(len(marks), 1, out)
                self.assertEqual(len(ckpts), 1, out)
                # "preempting" first, so even a kill during the save counts as a preemption
                self.assertLess(marks[0], ckpts[0])
                ck = objs[ckpts[0]]
                self.assertTrue(os.path.isabs(ck["checkpoint"]))
                self.assertEqual(os.path.dirname(ck["checkpoint"]), ckdir)
                with open(ck["checkpoint"]) as f:
                    saved = json.load(f)
                self.assertGreater(saved["step"], 0)
                self.assertEqual(saved["step"], ck["step"])
                # the last reported metric step is the saved step (or the one before it
                # when the signal came between the state update and the report)
                steps = [o["step"] for o in objs if "metrics" in o]
                self.assertIn(saved["step"], (steps[-1], steps[-1] + 1))
                self.assertEqual(sorted(os.listdir(ckdir)), ["step-%d.json" % saved["step"]])

    def test_failing_save_still_exits_preempted(self):
        rc, out, err, ckdir = self.run_child("failing-save")
        self.assertEqual(rc, 143)
        self.assertIn({"preempting": True}, parse_lines(out))
        self.assertIn("no space left", err)
        self.assertFalse(os.path.exists(ckdir) and os.listdir(ckdir))

    def test_refuses_exit_code_zero(self):
        with self.assertRaises(ValueError):
            st.handle_preemption(lambda: None, exit_code=0)
        with self.assertRaises(ValueError):
            st.exit_preempted(0)


if __name__ == "__main__":
    unittest.main()
