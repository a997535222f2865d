# The dashboard in a real browser: `serve` with a token, pools and switching rules, one sweep
# finished (one of its trials preempted on a spot agent and finished on an on-demand one) and
# one running (two long trials on a spot agent, one pending); then Debian's headless Chromium,
# driven by Selenium, loads GET /, is asked for the token once, and shows through its DOM
# what `status --json` and the API say: the sweeps' counts, a point per finished trial and the
# best-so-far line, the parameters against the objective, a learning curve per trial with
# metric history, a timeline bar per attempt with the preemption marked, spend by class and
# the on-demand equivalent, and the rule in force per pool with its next change. No console
# errors; screenshots are kept in build/test-output/t-dashboard/. Also: the page's headers,
# and `run` printing the dashboard's address and serving it.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

# Debian's Selenium lives in the system Python, whatever python3 comes first on PATH.
PY=/usr/bin/python3
command -v chromium >/dev/null && command -v chromedriver >/dev/null &&
	"$PY" -c 'import selenium' 2>/dev/null ||
	fail "chromium, chromium-driver and python3-selenium are needed (make test-deps installs them)"

case $BIN in
*/build/*/bin) OUT=${BIN%/bin}/test-output/t-dashboard ;;
*) OUT=$ROOT/build/test-output/t-dashboard ;;
esac
rm -rf "$OUT"
mkdir -p "$OUT" || fail "cannot create $OUT"

# Chromium and its driver by PID on exit (found by this test's own profile directory).
PROFILE="$T/chrome-profile"
stop_browser() {
	local f p
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		{ tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -- "$PROFILE" && kill -KILL "$p" 2>/dev/null
	done
	[ -s "$T/driver.pid" ] && kill -KILL "$(cat "$T/driver.pid")" 2>/dev/null
	return 0
}
trap 'stop_browser; kill_agents_and_trials; cleanup' EXIT

TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"

# A window that opens six hours from now (UTC): not in force, and the next change.
read -r WINDOW NEXT_AT <<EOF
$("$PY" -c 'import time
t = int(time.time()) // 60 * 60 + 6 * 3600
a, b = time.gmtime(t), time.gmtime(t + 3600)
print("%02d:%02d-%02d:%02d %d" % (a.tm_hour, a.tm_min, b.tm_hour, b.tm_min, t))')
EOF
cat >"$T/config.json" <<JSON
{
  "lease_timeout_s": 10,
  "token_file": "$T/token",
  "pools": [
    {"name": "spot", "class": "spot", "price_per_hour": 1.25},
    {"name": "od", "class": "on-demand", "price_per_hour": 3.5}
  ],
  "rules": [
    {"name": "flaky", "when": {"trial_preemptions_at_least": 1}, "use": "on-demand"},
    {"name": "later", "when": {"hours": "$WINDOW"}, "use": "any"},
    {"name": "default", "use": "spot"}
  ]
}
JSON

cat >"$T/done.json" <<JSON
{
  "name": "dash-done",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --batch-size {batch_size} --steps 8 --step-s 0.3 --ckpt-every 2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001, 0.01, 0.1]}, "batch_size": {"values": [64, 256]}},
  "metric": {"name": "train_loss", "goal": "minimize"}
}
JSON
cat >"$T/live.json" <<JSON
{
  "name": "dash-live <b>&amp;</b>",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 100000 --step-s 0.3",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001, 0.003, 0.01]}},
  "metric": {"name": "train_loss", "goal": "minimize"}
}
JSON

done_id=$("$SPOTSWEEP" submit "$T/done.json") || fail "submit dash-done"
start_server --config "$T/config.json"

# The page is public and carries no data; the API is not.
curl -s -D "$T/h.txt" -o "$T/index.html" "$URL/" || fail "GET /"
head -n 1 "$T/h.txt" | grep -q ' 200' || fail "GET /: $(head -n 1 "$T/h.txt")"
grep -qi '^content-type: text/html; charset=utf-8' "$T/h.txt" || fail "GET / type: $(cat "$T/h.txt")"
grep -qi '^cache-control: no-cache' "$T/h.txt" || fail "GET / is cached: $(cat "$T/h.txt")"
grep -qi "^content-security-policy: default-src 'self'" "$T/h.txt" || fail "GET /: no CSP"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$T/h.txt")
[ -n "$etag" ] || fail "GET /: no ETag"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/")
[ "$code" = 304 ] || fail "GET / with its ETag: $code, not 304"
grep -q 'src="dashboard.js"' "$T/index.html" || fail "the page does not load dashboard.js"
grep -Eq 'https?://' "$T/index.html" && fail "the page refers to another site: $(grep -Eo 'https?://[^"]*' "$T/index.html")"
for f in dashboard.js:text/javascript dashboard.css:text/css favicon.svg:image/svg+xml; do
	curl -s -D "$T/h.txt" -o "$T/asset" "$URL/${f%%:*}"
	grep -qi "^content-type: ${f#*:}" "$T/h.txt" || fail "GET /${f%%:*}: $(cat "$T/h.txt")"
	cmp -s "$T/asset" "$ROOT/src/dashboard/${f%%:*}" || fail "GET /${f%%:*} is not src/dashboard/${f%%:*}"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/rules")" = 401 ] || fail "/v1/rules without the token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/")" = 405 ] || fail "POST / is not 405"
ok "GET / serves the embedded page (no-cache, ETag, CSP), its script, style and icon; the API wants the token"

# Sweep 1: its first trial starts on a spot agent that is preempted two steps in (of eight);
# the rule "flaky" then sends it to the on-demand agent; the spot agent does the rest.
start_agent p0 --pool spot --grace-s 10 --token-file "$T/token"
p0=$AGENT_PID
first_log() { ls "$T/work/logs/sweep-$done_id"/trial-*/attempt-1.log 2>/dev/null | head -n 1; }
wait_for 60 eval 'log_has "$(first_log)" "^step 2 "' || fail "the first trial did not reach step 2"
kill -TERM "$p0"
wait_exit "$p0" 60 || fail "the preempted agent did not exit"
[ "$(db "SELECT count(*) FROM attempts a WHERE outcome = 'preempted' AND EXISTS (SELECT 1
    FROM metrics m WHERE m.trial_id = a.trial_id AND m.attempt = a.attempt)")" = 1 ] ||
	fail "no preempted attempt with metrics: $(db "SELECT trial_id, attempt, outcome FROM attempts")"
start_agent a1 --pool spot --slots 2 --token-file "$T/token"
start_agent o1 --pool od --token-file "$T/token"
wait_for 90 sweep_done "$done_id" || fail "dash-done did not finish: $("$SPOTSWEEP" status "$done_id" --json)"
[ "$(sweep_field "$done_id" succeeded)" = 6 ] || fail "dash-done: $("$SPOTSWEEP" status "$done_id" --json)"
[ "$(db "SELECT a.pool FROM attempts a JOIN attempts p ON p.trial_id = a.trial_id
    WHERE p.outcome = 'preempted' AND a.attempt = 2")" = od ] || fail "the preempted trial did not go on demand"
ok "dash-done: 6 trials succeeded, one preempted on spot and finished on demand"

# Sweep 2 keeps running: two trials on the spot agent's two slots, the third pending (the
# on-demand agent takes only preempted trials).
live_id=$("$SPOTSWEEP" submit "$T/live.json") || fail "submit dash-live"
live_points() {
	[ "$(db "SELECT count(DISTINCT m.trial_id) FROM metrics m JOIN trials t ON t.id = m.trial_id
	    WHERE t.sweep_id = $live_id AND m.step >= 2")" = 2 ]
}
wait_for 60 live_points || fail "dash-live: two trials did not report: $("$SPOTSWEEP" status "$live_id" --json)"
[ "$(sweep_field "$live_id" running)" = 2 ] && [ "$(sweep_field "$live_id" pending)" = 1 ] ||
	fail "dash-live: $("$SPOTSWEEP" status "$live_id" --json)"
ok "dash-live: 2 trials running with metric history, 1 pending"

"$SPOTSWEEP" status --json >"$T/status.json" || fail "status --json"

cat >"$T/browse.py" <<'PY'
"""Drives headless Chromium over the dashboard and checks its DOM against the API."""
import json
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, token, profile, out, status_path, done_id, live_id, next_at, pidfile = sys.argv[1:]
done_id, live_id, next_at = int(done_id), int(live_id), float(next_at)
status = {s["sweep_id"]: s for s in json.load(open(status_path))}


def api(path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def fail(msg):
    raise AssertionError(msg)


opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--user-data-dir=" + profile]:
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
service = Service("/usr/bin/chromedriver")
drv = webdriver.Chrome(service=service, options=opts)
open(pidfile, "w").write(str(service.process.pid))
drv.set_window_size(1400, 1900)
# A poll re-draws the plots of a running sweep: an element read a moment ago may be gone.
wait = WebDriverWait(drv, 60, poll_frequency=0.2,
                     ignored_exceptions=[StaleElementReferenceException])


def q(css):
    return drv.find_elements(By.CSS_SELECTOR, css)


def until(what, cond):
    try:
        return wait.until(lambda d: cond())
    except TimeoutException:
        fail("timed out waiting for " + what)


def polls():
    v = q("#main")[0].get_attribute("data-polls")
    return int(v) if v else 0


def show(sweep_id):
    """Selects a sweep by clicking its row's link, then waits for a poll that shows it."""
    q('#sweeps tr[data-sweep-id="%d"] a' % sweep_id)[0].click()
    until("sweep %d's details" % sweep_id, lambda: q("#sweep-detail")[0].get_attribute(
        "data-sweep-id") == str(sweep_id))
    seen = polls()
    until("a fresh poll", lambda: polls() > seen)


def settled(fn):
    """Runs fn, again if a poll re-drew what it was reading (bounded)."""
    for _ in range(50):
        try:
            return fn()
        except StaleElementReferenceException:
            time.sleep(0.1)
    return fn()


def severe(entries):
    return [e for e in entries if e["level"] == "SEVERE"]


try:
    drv.get(url + "/")
    # Without a token in the session, the first call is refused and the form shows.
    until("the token form", lambda: q("#token-form")[0].is_displayed())
    if q("#main")[0].is_displayed():
        fail("data shown before the token was given")
    for e in severe(drv.get_log("browser")):
        # Chromium reports the refused call itself; nothing else may go wrong.
        if not (e["source"] == "network" and "/v1/sweeps" in e["message"] and "401" in e["message"]):
            fail("console error before the token: %s" % e)
    q("#token-input")[0].send_keys(token)
    q("#token-submit")[0].click()
    until("the sweeps table", lambda: len(q("#sweeps tbody tr")) == len(status))
    if q("#token-form")[0].is_displayed():
        fail("the token form is still shown")

    # The sweeps, their counts as `status --json` gives them.
    for sid, s in status.items():
        row = q('#sweeps tr[data-sweep-id="%d"]' % sid)
        if not row:
            fail("no row for sweep %d" % sid)
        cells = {c.get_attribute("data-field"): c.text for c in
                 row[0].find_elements(By.CSS_SELECTOR, "td[data-field]")}
        if cells["name"] != s["name"]:
            fail("sweep %d's name shown as %r, not %r (escaped text)" % (sid, cells["name"], s["name"]))
        for k in ["pending", "running", "succeeded", "pruned", "abandoned", "cancelled"]:
            if cells[k] != str(s[k]):
                fail("sweep %d: %s shown %r, status says %d" % (sid, k, cells[k], s[k]))
    if q("#sweeps b"):
        fail("markup from a sweep's name reached the DOM")

    # The finished sweep.
    show(done_id)
    def finished_checks():
        results = api("/v1/sweeps/%d/results" % done_id)
        s = status[done_id]
        if results["finished"] != s["succeeded"] + s["pruned"]:
            fail("results: %d finished, status: %d" % (results["finished"], s["succeeded"] + s["pruned"]))
        pts = q('svg[data-plot="objective"] circle.pt')
        if len(pts) != s["succeeded"]:
            fail("objective plot: %d points for %d trials with a value" % (len(pts), s["succeeded"]))
        best = q('svg[data-plot="objective"] path.best')
        if len(best) != 1 or not best[0].get_attribute("d").startswith("M"):
            fail("objective plot: no best-so-far line")
        best_ids = {int(p.get_attribute("data-trial-id")) for p in pts}
        if s["best"]["trial_id"] not in best_ids:
            fail("the best trial is not plotted")
        facets = q('svg[data-plot="params"] g.facet')
        names = sorted(f.get_attribute("data-param") for f in facets)
        if names != ["batch_size", "lr"]:
            fail("parameter facets: %s" % names)
        ppts = q('svg[data-plot="params"] circle.pt')
        if len(ppts) != 2 * s["succeeded"]:
            fail("parameter plot: %d points, not %d" % (len(ppts), 2 * s["succeeded"]))
        curves = api("/v1/sweeps/%d/metrics?trials=12&points=300" % done_id)
        with_points = [t for t in curves["trials"] if t["points"]]
        paths = q('svg[data-plot="curves"] path.curve')
        if len(paths) != len(with_points) or len(paths) != s["trials"]:
            fail("learning curves: %d paths, %d trials with history, %d trials" %
                 (len(paths), len(with_points), s["trials"]))
        if len(q('svg[data-plot="curves"] path.curve.best-trial')) != 1:
            fail("learning curves: the best trial is not marked")
        if not q('svg[data-plot="curves"] circle.resume'):
            fail("learning curves: the preempted trial's resume is not marked")
        attempts = api("/v1/sweeps/%d/attempts" % done_id)
        bars = q('svg[data-plot="timeline"] rect.attempt')
        if len(bars) != attempts["total"] or attempts["total"] != s["trials"] + 1:
            fail("timeline: %d bars, %d attempts" % (len(bars), attempts["total"]))
        marks = q('svg[data-plot="timeline"] path.preempt')
        if len(marks) != 1 or len(q('svg[data-plot="timeline"] rect.attempt.preempted')) != 1:
            fail("timeline: %d preemption marks, not 1" % len(marks))
        workers = {t.text for t in q('svg[data-plot="timeline"] text.worker')}
        if workers != {"p0", "a1", "o1"}:
            fail("timeline rows: %s" % workers)
        cost = api("/v1/sweeps/%d/cost" % done_id)
        for cls, want in [("spot", cost["by_class"]["spot"]["cost_usd"]),
                          ("on-demand", cost["by_class"]["on-demand"]["cost_usd"]),
                          ("total", cost["cost_usd"]),
                          ("on-demand-equivalent", cost["on_demand"]["cost_usd"])]:
            cell = q('#spend tr[data-class="%s"] td[data-field="cost"]' % cls)
            if not cell:
                fail("spend: no %s row" % cls)
            got = float(cell[0].get_attribute("data-value"))
            if abs(got - want) > 1e-9 * max(1, abs(want)) or not want > 0:
                fail("spend %s: %r shown, the API says %r" % (cls, got, want))
        rules = api("/v1/rules")
        for p in rules["pools"]:
            row = q('#rules-pools tr[data-pool="%s"]' % p["name"])
            if not row:
                fail("rules: no row for pool %s" % p["name"])
            use = row[0].find_element(By.CSS_SELECTOR, 'td[data-field="use"]').text
            if use != "spot" or p["decision"]["rule"] != "default":
                fail("rules: pool %s: %s now (%s)" % (p["name"], use, p["decision"]))
            at = row[0].find_element(By.CSS_SELECTOR, 'td[data-field="next"]').get_attribute("data-at")
            if at is None or float(at) != next_at or p["next"]["decision"]["rule"] != "later":
                fail("rules: pool %s: next change %s, expected %s by 'later'" % (p["name"], at, next_at))
        if len(q("#rules-list li")) != 3 or len(q("#rules-list li.active")) != 1:
            fail("rules list: %d rules, %d in force" % (len(q("#rules-list li")), len(q("#rules-list li.active"))))
        drv.save_screenshot(out + "/dashboard-finished.png")
        return pts, facets, paths, bars
    pts, facets, paths, bars = settled(finished_checks)
    print("finished sweep: %d points, best line, %d facets, %d curves, %d bars, 1 preemption"
          % (len(pts), len(facets), len(paths), len(bars)))

    # The running sweep: its curves grow between polls.
    show(live_id)
    s = status[live_id]

    def running_now():
        if q('svg[data-plot="objective"] circle.pt'):
            fail("points plotted for a sweep with no finished trial")
        curves = q('svg[data-plot="curves"] path.curve.running')
        if len(curves) != s["running"]:
            fail("%d running curves for %d running trials" % (len(curves), s["running"]))
        running = q('svg[data-plot="timeline"] rect.attempt.running')
        if len(running) != s["running"]:
            fail("%d running bars for %d running trials" % (len(running), s["running"]))
        return curves, running, sorted(len(c.get_attribute("d")) for c in curves)
    curves, running, before = settled(running_now)
    until("the running curves to grow", lambda: sorted(
        len(c.get_attribute("d")) for c in q('svg[data-plot="curves"] path.curve.running')) > before)
    drv.save_screenshot(out + "/dashboard.png")
    print("running sweep: %d running curves growing, %d running bars" % (len(curves), len(running)))

    # The token is kept for the session: a reload does not ask again.
    drv.refresh()
    until("the sweeps after a reload", lambda: len(q("#sweeps tbody tr")) == len(status) and
          q("#main")[0].is_displayed())
    if q("#token-form")[0].is_displayed():
        fail("the token was asked for again after a reload")
    errors = severe(drv.get_log("browser"))
    if errors:
        fail("console errors: %s" % errors)
    print("no console errors; the token kept across a reload")
except Exception as e:
    try:
        drv.save_screenshot(out + "/failure.png")
        open(out + "/failure.html", "w").write(drv.page_source)
    except Exception:
        pass
    print("FAIL:", e)
    sys.exit(1)
finally:
    drv.quit()
PY

"$PY" "$T/browse.py" "$URL" "$TOKEN" "$PROFILE" "$OUT" "$T/status.json" "$done_id" "$live_id" \
	"$NEXT_AT" "$T/driver.pid" >"$T/browse.log" 2>&1 &
browser=$!
track "$browser"
wait_exit "$browser" 240 || fail "the browser test did not end: $(cat "$T/browse.log")"
[ "$EXIT_RC" = 0 ] || fail "in the browser: $(cat "$T/browse.log")"
sed 's/^/  /' "$T/browse.log"
[ -s "$OUT/dashboard.png" ] && [ -s "$OUT/dashboard-finished.png" ] || fail "no screenshot in $OUT"
ok "the dashboard in headless Chromium shows the right counts and plots, no console errors; screenshots in $OUT"

# `run` serves the dashboard too, and says where.
cat >"$T/run.json" <<JSON
{"name": "dash-run", "command": "sleep 3; echo loss={x}", "method": "grid",
 "parameters": {"x": {"values": [1]}}, "metric": {"name": "loss", "pattern": "loss=([0-9.]+)"}}
JSON
(cd "$T" && exec "$SPOTSWEEP" --db "$T/run.db" run "$T/run.json" --agents 1 --workdir "$T/run-work" \
	-o "$T/run.csv" >"$T/run.out" 2>"$T/run.log") &
runner=$!
track "$runner"
wait_for 30 grep -q '^spotsweep: dashboard on http://' "$T/run.log" || fail "run: $(cat "$T/run.log")"
dash=$(sed -n 's|^spotsweep: dashboard on \(http://[^ ]*\).*|\1|p' "$T/run.log")
curl -s -o /dev/null -w '%{http_code} %{content_type}' "$dash" | grep -q '^200 text/html' ||
	fail "run's dashboard $dash did not answer"
wait_exit "$runner" 60 || fail "run did not finish"
[ "$EXIT_RC" = 0 ] || fail "run exited $EXIT_RC: $(cat "$T/run.log")"
ok "run printed and served its dashboard at $dash"

# serve answered every dashboard call cleanly (under `make sanitize` too) and stops cleanly.
kill -TERM "$SERVER_PID"
wait_exit "$SERVER_PID" 60 || fail "serve did not stop"
[ "$EXIT_RC" = 0 ] || fail "serve exited $EXIT_RC"
if grep -E "Sanitizer|runtime error" "$T/server.log" "$T/run.log" >&2; then
	fail "sanitizer reports"
fi
ok "serve stopped cleanly"
