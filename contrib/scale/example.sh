#!/bin/sh
# An example scale_command for a spotsweep pool: `serve` runs it as
#
#     scale_command POOL WANTED
#
# whenever the number of workers POOL could keep busy changes (a rules window opens or
# closes, the spot price crosses a rule's threshold, the queue grows or empties), like
# Slurm's ResumeProgram/SuspendProgram. WANTED is a count of workers (one trial each):
# running attempts on the pool plus the pending trials the rules let its class take now,
# capped by the pool's max_workers (else max_jobs, else the slots of its hosts).
#
# The same facts are in the environment: SPOTSWEEP_POOL, SPOTSWEEP_POOL_CLASS (spot or
# on-demand) and SPOTSWEEP_WANTED. The command runs through /bin/sh in its own process group
# with stdin from /dev/null; it is killed after 60 s. serve never waits for it: it logs the
# exit status and the last line printed (and records a "pool.scale" event), runs one call
# per pool at a time, always with the newest size, and retries a failed call after 30 s.
# Exit 0 once the request is made; the scheduler does not need the machines to be up yet,
# since new agents simply register and ask for work.
#
# This example keeps an AWS Auto Scaling group's desired capacity at WANTED when the aws CLI
# is configured and SPOTSWEEP_ASG_<POOL> names the group (e.g. SPOTSWEEP_ASG_spot_h100), and
# otherwise only records the request in $SPOTSWEEP_SCALE_LOG (default /tmp/spotsweep-scale.log).
set -eu

pool=${1:?usage: example.sh POOL WANTED}
wanted=${2:?usage: example.sh POOL WANTED}
case $wanted in
*[!0-9]*) echo "example.sh: WANTED must be a number, not $wanted" >&2; exit 2 ;;
esac

log=${SPOTSWEEP_SCALE_LOG:-/tmp/spotsweep-scale.log}
printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$pool" "$wanted" >>"$log"

# The variable holding the group's name: pool names may hold characters a variable cannot.
var="SPOTSWEEP_ASG_$(printf '%s' "$pool" | tr -c 'A-Za-z0-9_' '_')"
group=$(eval "printf '%s' \"\${$var:-}\"")
if [ -n "$group" ] && command -v aws >/dev/null 2>&1; then
	aws autoscaling set-desired-capacity --auto-scaling-group-name "$group" \
		--desired-capacity "$wanted" --honor-cooldown
	echo "asked $group for $wanted instances"
else
	echo "recorded: $pool wants $wanted workers (in $log)"
fi
