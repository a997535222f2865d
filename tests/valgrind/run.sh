#!/usr/bin/env bash
# make valgrind: runs integration tests once with every spotsweep and spotsweep-agent process
# under valgrind memcheck, through wrapper scripts in $VG/bin that the tests take as $BIN.
# A process with a definite leak or a memory error exits 99, and afterwards every valgrind
# log is checked: no "definitely lost" bytes, no invalid read, write or free, no use of
# uninitialised values. Valgrind slows the programs some 20-50 times, so the subset below
# leaves out the tests that assert on timing under load (the crash, partition and chaos
# tests, lease expiry races); they run under ASan in `make sanitize`.
set -u
cd "$(dirname "$0")/../.."
REAL=${REAL_BIN:?REAL_BIN: the directory of the real binaries}
VG=${VG_DIR:-build/valgrind}
TESTS=${VALGRIND_TESTS:-"t-cli t-sweep-completes t-http-errors t-limits t-errors t-security
	t-checkpoint-keep t-retry t-restart t-examples t-preempt-sigterm t-notice-file t-cost
	t-rules-config t-estimate t-wandb t-ssh-sweep"}
rm -rf "$VG/logs" "$VG/bin"
mkdir -p "$VG/logs" "$VG/bin"
logs=$(cd "$VG/logs" && pwd)
for b in spotsweep spotsweep-agent; do
	cat >"$VG/bin/$b" <<SH
#!/bin/sh
exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
	--show-leak-kinds=definite --track-origins=yes --child-silent-after-fork=yes \\
	--log-file="$logs/$b.%p.log" "$(cd "$REAL" && pwd)/$b" "\$@"
SH
	chmod +x "$VG/bin/$b"
done
export BIN
BIN=$(cd "$VG/bin" && pwd)
export CLEANUP_GRACE=4
pass=0 fail=0 failed=""
for name in $TESTS; do
	t=tests/integration/$name.sh
	[ -e "$t" ] || { echo "SKIP $name (no such test)"; continue; }
	log=$(mktemp /tmp/spotsweep-vg.XXXXXX)
	start=$(date +%s)
	if timeout 900 bash "$t" >"$log" 2>&1; then
		pass=$((pass + 1))
		echo "PASS $name ($(( $(date +%s) - start )) s)"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		echo "FAIL $name ($(( $(date +%s) - start )) s)"
		sed 's/^/    /' "$log" | tail -n 40
	fi
	rm -f "$log"
done
# The verdict of the logs. A process that exited wrote its ERROR SUMMARY (and a LEAK SUMMARY
# when it had blocks left); one killed by SIGKILL (a test's last resort) wrote none.
bad=$(grep -lE "definitely lost: [1-9]|are definitely lost|Invalid (read|write|free)|\
uninitialised|Mismatched free|Source and destination overlap|invalid file descriptor|\
ERROR SUMMARY: [1-9]" "$logs"/*.log 2>/dev/null)
nlogs=$(ls "$logs" | wc -l)
checked=$(grep -l "ERROR SUMMARY: 0 errors" "$logs"/*.log 2>/dev/null | wc -l)
if [ -n "$bad" ]; then
	for f in $bad; do
		echo "--- $f"
		head -n 60 "$f"
	done
fi
echo "valgrind: $pass passed, $fail failed; $nlogs processes, $checked checked at exit with" \
	"no error, $(echo $bad | wc -w) with errors, $((nlogs - checked - $(echo $bad | wc -w)))" \
	"killed before their check"
[ "$fail" -eq 0 ] && [ -z "$bad" ]
