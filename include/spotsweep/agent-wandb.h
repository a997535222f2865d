/* The agent's W&B support for one attempt: the attempt's folder beside its log
 * (WORKDIR/logs/sweep-S/trial-T/attempt-A/), the parameters file that W&B's
 * ${args_json_file} macro names, and the wandb shim: a small Python package named wandb
 * (contrib/wandb_shim/wandb/__init__.py, embedded here) written into that folder and put
 * first on the trial's PYTHONPATH, so scripts written for W&B sweeps run unchanged. */
#ifndef SPOTSWEEP_AGENT_WANDB_H
#define SPOTSWEEP_AGENT_WANDB_H

#include <jansson.h>

#include "spotsweep/agent-command.h"

struct agent_trial;

/* The shim's source, byte for byte the file in contrib/wandb_shim/wandb/. */
extern const char agent_wandb_shim_py[];

/* Sets up what the lease asks for beyond the command: with "wandb_shim" true, or a command
 * that uses ${args_json_file}, creates t->attempt_dir and writes args.json (the parameters
 * as json.dumps() writes them) and, with the shim, wandb/__init__.py into it. Fills
 * ph->program from the lease and ph->args_json_file. -1 with *cause on an I/O error. */
int agent_wandb_setup(struct agent_trial *t, const json_t *lease,
    struct agent_placeholders *ph, char **cause);

/* "PYTHONPATH=DIR[:inherited]": the shim's folder first. Caller frees. */
char *agent_wandb_pythonpath(const char *dir, const char *inherited);

#endif
