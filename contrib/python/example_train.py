#!/usr/bin/env python3
"""A preemptible trainer written with spotsweep_trainer: a stand-in for a real training loop.

It "trains" for --steps steps of --step-s seconds, reports val_loss each step, saves a JSON
checkpoint every --ckpt-every steps, resumes from the newest checkpoint the scheduler knows,
and on SIGTERM saves the last completed step and exits as preempted. A spec to run it:

    {"name": "helper-demo", "method": "random", "max_trials": 4,
     "command": "python3 contrib/python/example_train.py --lr {lr} --steps 50",
     "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}},
     "metric": {"name": "val_loss", "goal": "minimize"}}

(no metric pattern: the SPOTSWEEP lines carry the values). With --save-in-handler no, the
handler only sets a flag and the loop saves at the end of the step, the pattern for state
that must not be saved halfway through an update.
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spotsweep_trainer as st  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=float(st.param("lr", 1e-3)))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--step-s", type=float, default=0.2)
    ap.add_argument("--ckpt-every", type=int, default=5)
    ap.add_argument("--save-in-handler", choices=["yes", "no"], default="yes")
    args = ap.parse_args()

    state = {"step": 0, "loss": None}
    ckpt = st.latest_checkpoint()
    if ckpt is not None:
        with open(ckpt) as f:
            state = json.load(f)
        print("resumed from %s at step %d" % (ckpt, state["step"]), flush=True)

    def save():
        snapshot = dict(state)
        st.save_checkpoint(snapshot["step"],
                           lambda path: _write_json(path, snapshot), suffix=".json")

    if args.save_in_handler == "yes":
        st.handle_preemption(save)
    else:
        st.handle_preemption()
    print("ready: attempt %s, lr %g" % (st.attempt(), args.lr), flush=True)

    floor = 0.1 * (math.log10(max(args.lr, 1e-12)) + 3) ** 2
    for step in range(state["step"] + 1, args.steps + 1):
        time.sleep(args.step_s)
        loss = floor + 1.0 / step
        # The state changes as a whole, so a save from the handler sees a completed step.
        state = {"step": step, "loss": loss}
        print("step %d" % step, flush=True)
        st.report(step=step, val_loss=loss)
        if step % args.ckpt_every == 0:
            save()
        if st.stop_requested():
            save()
            st.exit_preempted()
    return 0


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


if __name__ == "__main__":
    sys.exit(main())
