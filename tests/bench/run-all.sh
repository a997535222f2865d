#!/usr/bin/env bash
# make bench: runs every benchmark program and script in tests/bench/ and prints its figures.
set -u
cd "$(dirname "$0")/../.."
: "${BENCH:=$PWD/build/bench}"
dir=$(mktemp -d /tmp/spotsweep-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
for b in "$BENCH"/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" "$dir" || echo "$(basename "$b") failed"
	echo
done
for s in tests/bench/bench-*.sh; do
	[ -e "$s" ] || continue
	echo "== $(basename "$s")"
	BIN="${BIN:-$PWD/bin}" BENCH="$BENCH" bash "$s" "$dir" || echo "$(basename "$s") failed"
	echo
done
