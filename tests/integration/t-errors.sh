# Error paths, each with a clear message and the contract's exit code, and nothing that was
# acknowledged lost: the port taken, the token file missing or empty, the database file
# unwritable (an immutable file, a read-only directory), the disk full (a small tmpfs, or a
# file-size limit where mounting is not allowed), SQLite busy (another process holding the
# write lock). Tests run as root, where file modes do not stop writes: the unwritable and
# full cases use chattr +i and mounts, and are skipped (said so) where the machine refuses.
. tests/integration/lib.sh

MOUNTS=""
cleanup_mounts() {
	local m p
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for m in $MOUNTS; do umount "$m" 2>/dev/null; done
	chattr -i "$T"/*.db 2>/dev/null
	cleanup
}
trap cleanup_mounts EXIT
can_mount() { mkdir -p "$T/probe" && mount -t tmpfs -o size=64k tmpfs "$T/probe" 2>/dev/null &&
	umount "$T/probe"; }

cat >"$T/one.json" <<JSON
{"name": "it-errors", "command": "echo val_loss={x}", "method": "grid",
 "parameters": {"x": {"values": [1, 2, 3, 4]}}, "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"}}
JSON

# --- the port taken
python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(60)" >"$T/port" &
holder=$!
track "$holder"
wait_for 10 test -s "$T/port" || fail "port holder"
port=$(cat "$T/port")
"$SPOTSWEEP" serve --listen "127.0.0.1:$port" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || fail "port taken: exit $rc"
grep -q "cannot listen on 127.0.0.1:$port: address already in use" "$T/err" || fail "port message: $(cat "$T/err")"
kill "$holder"
ok "port taken: exit 1, $(cat "$T/err")"

# --- the token file missing or empty, for serve and the agent: exit 2, never the token
"$SPOTSWEEP" serve --listen 127.0.0.1:0 --token-file "$T/nothing" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "missing token file: exit $rc"
grep -q "token file $T/nothing: no such file" "$T/err" || fail "missing token message: $(cat "$T/err")"
: >"$T/empty"; chmod 600 "$T/empty"
"$SPOTSWEEP" serve --listen 127.0.0.1:0 --token-file "$T/empty" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "empty token file: exit $rc"
grep -q "is empty" "$T/err" || fail "empty token message: $(cat "$T/err")"
"$AGENT" --server http://127.0.0.1:1 --token-file "$T/nothing" --once >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "agent, missing token file: exit $rc"
grep -q "token-file" "$T/err" || fail "agent token message: $(cat "$T/err")"
"$AGENT" --server http://127.0.0.1:1 --token-file "$T/empty" --once >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "agent, empty token file: exit $rc"
grep -q "empty" "$T/err" || fail "agent empty token message: $(cat "$T/err")"
ok "token file missing or empty: exit 2 with the file named"

# --- the database unwritable: an immutable file (chattr +i works as root)
id=$("$SPOTSWEEP" --db "$T/imm.db" submit "$T/one.json") || fail "submit"
if chattr +i "$T/imm.db" 2>/dev/null; then
	before=$(sqlite3 "$T/imm.db" "SELECT count(*) FROM trials" 2>/dev/null)
	"$SPOTSWEEP" --db "$T/imm.db" submit "$T/one.json" >/dev/null 2>"$T/err"; rc=$?
	[ $rc -eq 1 ] || fail "immutable database: exit $rc"
	grep -q "imm.db: .*readonly database" "$T/err" || fail "immutable message: $(cat "$T/err")"
	"$SPOTSWEEP" --db "$T/imm.db" cancel "$id" >/dev/null 2>"$T/err2"; rc=$?
	[ $rc -eq 1 ] || fail "cancel on an immutable database: exit $rc"
	chattr -i "$T/imm.db"
	[ "$(sqlite3 "$T/imm.db" "SELECT count(*) FROM trials")" = "$before" ] || fail "the immutable database changed"
	[ "$(sqlite3 "$T/imm.db" "SELECT count(*) FROM trials WHERE state = 'pending'")" = 4 ] || fail "cancel went through"
	ok "database file unwritable: exit 1, $(cat "$T/err")"
else
	echo "skip: chattr +i is not allowed here (database file unwritable)"
fi

# --- a read-only directory (SQLite needs to create its -wal and -shm files beside the file)
if can_mount; then
	mkdir -p "$T/ro"
	"$SPOTSWEEP" --db "$T/ro/r.db" submit "$T/one.json" >/dev/null || fail "submit"
	mount --bind "$T/ro" "$T/ro" && MOUNTS="$T/ro $MOUNTS" && mount -o remount,bind,ro "$T/ro" ||
		fail "read-only bind mount"
	"$SPOTSWEEP" --db "$T/ro/r.db" status >/dev/null 2>"$T/err"; rc=$?
	[ $rc -eq 1 ] || fail "read-only directory: exit $rc"
	grep -q "cannot write in $T/ro: Read-only file system" "$T/err" || fail "read-only message: $(cat "$T/err")"
	"$SPOTSWEEP" --db "$T/ro/r.db" serve --listen 127.0.0.1:0 >/dev/null 2>"$T/err"; rc=$?
	[ $rc -eq 1 ] || fail "serve on a read-only directory: exit $rc"
	umount "$T/ro"
	ok "read-only directory: exit 1, $(cat "$T/err")"
else
	echo "skip: mounts are not allowed here (read-only directory)"
fi

# --- the disk full: a 1 MiB tmpfs (else a file-size limit)
if can_mount; then
	mkdir -p "$T/full"
	mount -t tmpfs -o size=1m tmpfs "$T/full" && MOUNTS="$T/full $MOUNTS" || fail "tmpfs"
	python3 -c "print(open('$T/one.json').read().replace('\"values\": [1, 2, 3, 4]', '\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 100000'))" >"$T/big.json"
	"$SPOTSWEEP" --db "$T/full/f.db" submit "$T/big.json" >/dev/null 2>"$T/err"; rc=$?
	[ $rc -eq 1 ] || fail "submit on a full disk: exit $rc"
	grep -q "database or disk is full" "$T/err" || fail "disk full message: $(cat "$T/err")"
	[ "$(sqlite3 "$T/full/f.db" "SELECT count(*) FROM sweeps")" = 0 ] || fail "half a sweep stored"
	ok "disk full on submit: exit 1, nothing stored ($(cat "$T/err"))"

	# The scheduler on a disk that fills up: reports are refused (500, the agent retries),
	# the scheduler keeps running, and once there is room the sweep completes. (A fresh
	# tmpfs: the refused submit above left a large write-ahead log that would be reused.)
	mkdir -p "$T/full2"
	mount -t tmpfs -o size=1m tmpfs "$T/full2" && MOUNTS="$T/full2 $MOUNTS" || fail "tmpfs"
	id=$("$SPOTSWEEP" --db "$T/full2/f.db" submit "$T/one.json") || fail "submit"
	SPOTSWEEP_DB="$T/full2/f.db" start_server
	dd if=/dev/zero of="$T/full2/filler" bs=4k 2>/dev/null
	SPOTSWEEP_DB="$T/full2/f.db" start_agent a1
	wait_for 30 grep -q "database or disk is full" "$T/server.log" || fail "no disk-full error in the log"
	kill -0 "$SERVER_PID" || fail "the scheduler died on a full disk"
	[ "$(sqlite3 "$T/full2/f.db" "SELECT count(*) FROM trials WHERE state = 'succeeded'")" = 0 ] ||
		fail "a trial succeeded on a full disk"
	rm -f "$T/full2/filler"
	SPOTSWEEP_DB="$T/full2/f.db" wait_for 60 sweep_done "$id" ||
		fail "the sweep did not finish once there was room"
	[ "$(SPOTSWEEP_DB="$T/full2/f.db" sweep_field "$id" succeeded)" = 4 ] || fail "not every trial succeeded"
	kill "$AGENT_PID"; stop_server
	ok "disk full while serving: reports refused and retried, the sweep completes once there is room"
else
	( ulimit -f 64; "$SPOTSWEEP" --db "$T/lim.db" submit "$T/big.json" >/dev/null 2>"$T/err" ); rc=$?
	[ $rc -eq 1 ] || fail "submit over the file-size limit: exit $rc"
	ok "file-size limit on submit: exit 1 ($(cat "$T/err"))"
fi

# --- SQLite busy: another process holds the write lock
id=$("$SPOTSWEEP" submit "$T/one.json") || fail "submit"
lock_db() {
	python3 -c "
import sqlite3, sys, time
c = sqlite3.connect('$SPOTSWEEP_DB', isolation_level=None, timeout=10)
c.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(float(sys.argv[1]))
c.execute('ROLLBACK')" "$1" >"$T/lock.out"
}
lock_db 8 &
track $!
wait_for 10 grep -q locked "$T/lock.out" || fail "lock"
before=$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM sweeps")
"$SPOTSWEEP" submit "$T/one.json" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || fail "submit while locked: exit $rc"
grep -q "database is locked" "$T/err" || fail "busy message: $(cat "$T/err")"
ok "SQLite busy on submit (lock held past the 5 s busy timeout): exit 1, $(cat "$T/err")"
wait_for 20 sh -c "[ \$(sqlite3 '$SPOTSWEEP_DB' 'SELECT count(*) FROM sweeps') = $before ]" || fail "sweeps changed"

# While serving: a lock held across the agent's reports; they are retried, nothing is lost.
start_server
lock_db 7 &
track $!
wait_for 10 grep -q locked "$T/lock.out" || fail "lock"
start_agent a2
sleep 9
kill -0 "$SERVER_PID" || fail "the scheduler died while the database was locked"
wait_for 60 sweep_done "$id" || fail "the sweep did not finish after the lock: $("$SPOTSWEEP" status "$id" --json)"
[ "$(sweep_field "$id" succeeded)" = 4 ] || fail "not every trial succeeded after the lock"
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM trials WHERE sweep_id = $id AND value IS NULL")" = 0 ] ||
	fail "a succeeded trial lost its value"
ok "SQLite busy while serving: reports retried, every trial succeeded with its value"
