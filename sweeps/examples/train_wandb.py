#!/usr/bin/env python3
"""A training script written for Weights & Biases sweeps: it imports wandb, reads
wandb.config and logs with wandb.log. spotsweep runs it unchanged: with --wandb-shim (or
"wandb_shim": true in the spec) the agent puts a stand-in wandb module in front of it, so
it needs neither the wandb package nor an account. A noisy bowl stands in for training:
the loss falls with each epoch towards a floor set by the hyperparameters.
"""
import argparse
import math
import time

import wandb

# W&B's default command passes every parameter as --name=value; the config wins anyway.
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
args, _ = parser.parse_known_args()

run = wandb.init(project="spotsweep-example", config={"epochs": args.epochs})
config = wandb.config

if "optimizer" in config and isinstance(config.optimizer, dict):
    lr = config.optimizer.lr            # nested parameters: config.optimizer.lr
    optimizer = config.optimizer.name
else:
    lr = config.learning_rate
    optimizer = config.optimizer
batch_size = config.batch_size

floor = (math.log10(lr) + 2.2) ** 2 / 4 + abs(math.log2(batch_size) - 6) / 20
floor += 0.05 if optimizer == "sgd" else 0.0
for epoch in range(config.epochs):
    val_loss = floor + 1.0 / (epoch + 1)
    wandb.log({"val_loss": val_loss, "train": {"lr": lr}, "epoch": epoch})
    time.sleep(0.05)
run.summary["val_loss"] = val_loss
wandb.finish()
