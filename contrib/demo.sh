#!/usr/bin/env bash
# `make demo`: runs sweeps/demo.json end to end with two local agents on a fresh store under
# demo-out/, and ends with the CSV's path.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
rm -rf "$out"
mkdir -p "$out"
echo "== spotsweep demo: 20 trials of sweeps/examples/train.py on 2 local agents"
set +e
bin/spotsweep --db "$out/demo.db" run sweeps/demo.json --agents 2 --workdir "$out/work" \
	-o "$out/results.csv"
rc=$?
set -e
echo
echo "== status"
bin/spotsweep --db "$out/demo.db" status
echo
echo "== first rows of $out/results.csv"
head -n 6 "$out/results.csv"
echo
echo "CSV: $PWD/$out/results.csv"
exit $rc
