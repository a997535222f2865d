#!/usr/bin/env bash
# Runs the libFuzzer targets that `make fuzz` built in DIR. Each target first replays its
# regression inputs (tests/fuzz/regressions/TARGET/: inputs that once crashed it, kept so the
# fix stays fixed), then fuzzes for FUZZ_SECONDS (default 60) from its seed corpus
# (tests/fuzz/corpus/TARGET/) with its dictionary (tests/fuzz/TARGET.dict). New corpus
# entries go to DIR/corpus/TARGET, never into the tree; a crash leaves its input in
# DIR/crashes/. Exits 1 when any target failed.
set -u
cd "$(dirname "$0")/../.."
dir=${1:?usage: run.sh BUILD_DIR}
secs=${FUZZ_SECONDS:-60}
failed=""
mkdir -p "$dir/crashes"
for bin in "$dir"/fuzz_*; do
	[ -x "$bin" ] || continue
	case $bin in *.d|*.o) continue ;; esac
	name=$(basename "$bin")
	t=${name#fuzz_}
	reg=tests/fuzz/regressions/$t
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
		if ! "$bin" -runs=1 "$reg"/* >"$dir/$t.replay.log" 2>&1; then
			echo "FAIL $t: a regression input crashes it again"
			tail -n 40 "$dir/$t.replay.log"
			failed="$failed $t"
			continue
		fi
		echo "ok $t: $(ls "$reg" | wc -l) regression inputs replayed"
	fi
	mkdir -p "$dir/corpus/$t"
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 $dict \
		-print_final_stats=1 -artifact_prefix="$dir/crashes/$t-" \
		"$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$dir/$t.log" 2>&1; then
		echo "ok $t: $(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$t.log") runs" \
			"in ${secs} s, nothing found"
	else
		echo "FAIL $t (input in $dir/crashes/, log $dir/$t.log)"
		grep -E "^==[0-9]+==ERROR|^SUMMARY|runtime error|ABORTING|deadly signal|Test unit written" \
			"$dir/$t.log" | head -n 8
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
echo "fuzz: every target ran ${secs} s and found nothing"
