#!/usr/bin/env bash
# Runs every tests/integration/t-*.sh against the binaries in $BIN and prints the plain
# closing line "N passed, N failed". Each script is self-contained and cleans up by PID.
set -u
cd "$(dirname "$0")/../.."
: "${BIN:=$PWD/bin}"
export BIN
pass=0 fail=0 failed=""
for t in tests/integration/t-*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	log=$(mktemp /tmp/spotsweep-it.XXXXXX)
	start=$(date +%s)
	if timeout 600 bash "$t" >"$log" 2>&1; then
		pass=$((pass + 1))
		echo "PASS $name ($(( $(date +%s) - start )) s)"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		echo "FAIL $name ($(( $(date +%s) - start )) s)"
		sed 's/^/    /' "$log" | tail -n 60
	fi
	rm -f "$log"
done
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
