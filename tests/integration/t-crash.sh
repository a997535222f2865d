# Crash safety: 240 short trials on 4 agents while the scheduler is killed with SIGKILL and
# restarted on the same address at random moments, 12 times (at least 10 before the sweep
# ends). While it is down the store must be consistent (no trial with two open attempts, a
# running trial has exactly its current attempt open, the sweep's counters match its
# trials); at the end every trial succeeded exactly once, attempts are numbered 1..N, none
# is left open, and nothing is pending.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

N=240
KILLS=12
echo '{"lease_timeout_s": 4}' >"$T/sched.json"
cat >"$T/s.json" <<JSON
{
  "name": "it-crash",
  "command": "sleep 0.6; echo val_loss={x}",
  "method": "grid",
  "parameters": {"x": {"distribution": "int_uniform", "min": 1, "max": $N}},
  "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"},
  "retry": {"max_failures": 0, "max_preemptions": 1000}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
[ "$(sweep_field "$id" trials)" = "$N" ] || fail "expected $N trials"
start_server --config "$T/sched.json"
for a in 1 2 3 4; do
	start_agent "a$a" --slots 2
	eval "agent$a=\$AGENT_PID"
done

# restart_server: serve again on the same address; a bind that races the dead socket is
# retried.
restart_server() {
	local try i out
	for try in 1 2 3 4 5 6 7 8 9 10; do
		out="$T/server-$restarts-$try.out"
		"$SPOTSWEEP" serve --listen "$ADDR" --config "$T/sched.json" >"$out" 2>>"$T/server.log" &
		SERVER_PID=$!
		track "$SERVER_PID"
		for i in $(seq 200); do
			grep -q '^listening on ' "$out" 2>/dev/null && return 0
			pid_gone "$SERVER_PID" && break
			sleep 0.05
		done
		wait "$SERVER_PID" 2>/dev/null
		sleep 0.2
	done
	fail "serve could not be restarted on $ADDR"
}

# Invariants that hold at every committed state.
check_store() {
	local bad
	bad=$(db "SELECT trial_id FROM attempts WHERE outcome IS NULL GROUP BY trial_id
	    HAVING count(*) > 1")
	[ -z "$bad" ] || fail "trials with two open attempts: $bad"
	bad=$(db "SELECT t.id FROM trials t WHERE t.sweep_id = $id AND
	    (t.state = 'running') <> EXISTS (SELECT 1 FROM attempts a WHERE a.trial_id = t.id
	     AND a.attempt = t.attempts AND a.outcome IS NULL)
	    OR EXISTS (SELECT 1 FROM attempts a WHERE a.trial_id = t.id AND a.outcome IS NULL
	     AND a.attempt <> t.attempts)")
	[ -z "$bad" ] || fail "trials whose state and open attempt disagree: $bad"
	bad=$(db "SELECT s.n_pending || ' ' || s.n_running || ' ' || s.n_succeeded || ' ' ||
	    s.n_abandoned || ' ' || s.n_cancelled || ' ' || s.n_pruned || ' / ' ||
	    (SELECT count(*) FILTER (WHERE state = 'pending') || ' ' ||
	     count(*) FILTER (WHERE state = 'running') || ' ' ||
	     count(*) FILTER (WHERE state = 'succeeded') || ' ' ||
	     count(*) FILTER (WHERE state = 'abandoned') || ' ' ||
	     count(*) FILTER (WHERE state = 'cancelled') || ' ' ||
	     count(*) FILTER (WHERE state = 'pruned') FROM trials WHERE sweep_id = s.id)
	    FROM sweeps s WHERE s.id = $id")
	[ "${bad% / *}" = "${bad#* / }" ] || fail "sweep counters / counted trials: $bad"
}

kills=0
restarts=0
done_early=0
while [ "$kills" -lt "$KILLS" ]; do
	# Up for 0.2 to 0.9 s, then killed at that random moment.
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + r % 70 / 100 }')"
	if sweep_done "$id"; then
		done_early=1
		break
	fi
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null
	kills=$((kills + 1))
	check_store
	# Down for 0.05 to 0.5 s: the agents keep running their trials meanwhile.
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.05 + r % 45 / 100 }')"
	restarts=$((restarts + 1))
	restart_server
done
[ "$done_early" = 0 ] || [ "$kills" -ge 10 ] || fail "the sweep ended after only $kills kills"
ok "scheduler SIGKILLed and restarted $kills times mid-sweep; store consistent at each kill"

wait_for 90 sweep_done "$id" || fail "the sweep did not finish: $("$SPOTSWEEP" status "$id" --json)"
check_store
[ "$(sweep_field "$id" succeeded)" = "$N" ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id" --json)"
[ "$(db "SELECT state FROM sweeps WHERE id = $id")" = done ] || fail "the sweep is not done"
[ "$(db "SELECT count(*) FROM attempts WHERE outcome IS NULL")" = 0 ] || fail "attempts left open"
bad=$(db "SELECT t.id FROM trials t WHERE t.sweep_id = $id AND (
    (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id AND a.outcome = 'succeeded') <> 1
    OR (SELECT outcome FROM attempts a WHERE a.trial_id = t.id AND a.attempt = t.attempts)
       <> 'succeeded'
    OR (SELECT count(*) FROM attempts a WHERE a.trial_id = t.id) <> t.attempts
    OR (SELECT min(attempt) FROM attempts a WHERE a.trial_id = t.id) <> 1
    OR (SELECT max(attempt) FROM attempts a WHERE a.trial_id = t.id) <> t.attempts
    OR (SELECT count(*) FROM events e WHERE e.trial_id = t.id AND e.kind = 'trial.succeeded') <> 1
    OR t.value IS NOT json_extract(t.params, '\$.x'))")
[ -z "$bad" ] || fail "inconsistent trials: $bad"
ok "$N trials each succeeded exactly once; attempts 1..N per trial; none open; values right"
extra=$(db "SELECT count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = $id
    AND a.outcome <> 'succeeded'")
echo "attempts interrupted by the crashes (lost and re-run): $extra"
for a in 1 2 3 4; do
	eval "kill -0 \$agent$a" || fail "agent a$a died"
done
ok "every agent carried on through the restarts"
