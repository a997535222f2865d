#!/usr/bin/env python3
"""A stand-in trainer for spotsweep's examples and tests.

It "trains" for --steps steps of --step-s seconds each, prints val_loss and val_acc every step
(both as plain text matched by the spec's metric patterns and as SPOTSWEEP lines), writes a
checkpoint into --checkpoint-dir (default $SPOTSWEEP_CHECKPOINT_DIR) every --ckpt-every steps,
and resumes from --resume (default $SPOTSWEEP_RESUME_FROM). On SIGTERM it writes an emergency
checkpoint and exits 143, as a real training script on a spot machine should.

Any other --name value pairs are hyperparameters: the loss is a smooth function of them, so
sweeps have a real best trial. --fail-rate makes it fail; --fail-text prints a line first.
"""
import json
import math
import os
import signal
import sys
import time


def parse_args(argv):
    args = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            key = a[2:]
            if "=" in key:
                key, val = key.split("=", 1)
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                val = argv[i + 1]
                i += 1
            elif i + 1 < len(argv) and argv[i + 1] == "":
                val = ""
                i += 1
            else:
                val = "1"
            args[key.replace("-", "_")] = val
        i += 1
    return args


def num(v, default):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def main():
    args = parse_args(sys.argv[1:])
    steps = int(num(args.pop("steps", None), 10))
    step_s = num(args.pop("step_s", None), 0.2)
    ckpt_every = max(1, int(num(args.pop("ckpt_every", None), 2)))
    ckpt_dir = args.pop("checkpoint_dir", None) or os.environ.get("SPOTSWEEP_CHECKPOINT_DIR", "")
    resume = args.pop("resume", None)
    if resume is None:
        resume = os.environ.get("SPOTSWEEP_RESUME_FROM", "")
    fail_rate = num(args.pop("fail_rate", None), 0.0)
    fail_text = args.pop("fail_text", None)

    # The loss surface: best near lr=1e-3, batch_size=64, dropout=0.1, layers=4.
    lr = num(args.get("lr"), 1e-3)
    bs = num(args.get("batch_size"), 64)
    dropout = num(args.get("dropout"), 0.1)
    layers = num(args.get("layers"), 4)
    floor = (0.1 * (math.log10(max(lr, 1e-12)) + 3) ** 2
             + 0.05 * (math.log2(max(bs, 1)) - 6) ** 2
             + 0.5 * (dropout - 0.1) ** 2
             + 0.01 * (layers - 4) ** 2)

    start = 0
    if resume:
        with open(resume) as f:
            start = json.load(f)["step"]
        print(f"resumed from {resume} at step {start}", flush=True)

    state = {"step": start}

    def save(tag):
        if not ckpt_dir:
            return
        os.makedirs(ckpt_dir, exist_ok=True)
        path = os.path.join(ckpt_dir, f"step-{state['step']}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"step": state["step"], "tag": tag}, f)
        os.replace(tmp, path)
        print("SPOTSWEEP " + json.dumps({"checkpoint": path, "step": state["step"]}), flush=True)

    def on_term(signum, frame):
        print(f"SIGTERM at step {state['step']}: saving an emergency checkpoint", flush=True)
        save("emergency")
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)

    if fail_text:
        print(fail_text, flush=True)
    if fail_rate > 0 and fail_rate >= 1.0:
        print("failing on purpose", file=sys.stderr, flush=True)
        sys.exit(3)

    for step in range(start + 1, steps + 1):
        time.sleep(step_s)
        state["step"] = step
        loss = floor + 1.0 / step
        acc = 1.0 / (1.0 + loss)
        print(f"step {step} val_loss={loss:.6f} val_acc={acc:.6f}", flush=True)
        print("SPOTSWEEP " + json.dumps({"metrics": {"train_loss": loss * 1.1}, "step": step}),
              flush=True)
        if step % ckpt_every == 0:
            save("periodic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
