// spotsweep's dashboard: polls the scheduler's /v1/ API (the same calls as any client, with
// the bearer token when one is configured) and draws what it reads as inline SVG. No
// libraries, nothing from the network but the scheduler. Text from the API only ever goes
// into the page through textContent or data attributes, never as markup.
"use strict";

(function () {
  const POLL_MS = 3000;          // one poll at a time: the next starts this long after
  const LIST_COST_EVERY = 5;     // every sweep's spend (a scan per sweep) every 5th poll
  const RESULTS_LIMIT = 1000;    // points of the objective plot (sampled by the server)
  const CURVES = 12;             // learning curves: the best trial, running ones, the latest
  const CURVE_POINTS = 300;
  const ATTEMPTS_LIMIT = 400;    // the newest attempts on the timeline
  const MAX_FACETS = 8;          // parameters plotted against the objective
  const TOKEN_KEY = "spotsweep.token";
  const SVGNS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  const st = {
    token: sessionStorage.getItem(TOKEN_KEY),
    asking: false,
    busy: false,
    again: false,
    timer: null,
    polls: 0,
    selected: null,
    curveMetric: null,           // null: the sweep's objective
    listCost: new Map(),
  };

  class AuthError extends Error {}

  // ---- DOM helpers ----

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    for (const k of kids) {
      if (k === null || k === undefined) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  function s(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function titled(e, text) {
    e.append(s("title", {}, text));
    return e;
  }

  function setStatus(text, bad) {
    const e = $("status");
    e.textContent = text;
    e.classList.toggle("error", !!bad);
  }

  // ---- formatting ----

  function num(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return String(Number(v.toPrecision(5)));
  }

  function money(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a > 0 && a < 0.00005) return (v < 0 ? "-" : "") + "<$0.0001";
    return (v < 0 ? "-$" : "$") + (a > 0 && a < 0.01 ? a.toFixed(4) : a.toFixed(2));
  }

  function clock(t) {
    const d = new Date(t * 1000);
    return d.toISOString().slice(11, 19);
  }

  function utc(t) {
    return new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function duration(sec) {
    sec = Math.max(0, Math.round(sec));
    const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600);
    const mm = Math.floor(sec % 3600 / 60), ss = sec % 60;
    if (d > 0) return d + "d " + hh + "h";
    if (hh > 0) return hh + "h " + mm + "m";
    if (mm > 0) return mm + "m " + ss + "s";
    return ss + "s";
  }

  // ---- the API ----

  async function api(path) {
    const headers = {};
    if (st.token) headers.Authorization = "Bearer " + st.token;
    const r = await fetch(path, { headers, cache: "no-store" });
    if (r.status === 401) throw new AuthError("the scheduler wants its token");
    if (!r.ok) {
      let msg = "HTTP " + r.status;
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(path + ": " + msg);
    }
    return r.json();
  }

  function askToken(refused) {
    st.asking = true;
    $("main").hidden = true;
    $("token-form").hidden = false;
    $("token-error").textContent = refused ? "The scheduler refused that token." : "";
    setStatus("waiting for the token");
    $("token-input").focus();
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("token-input").value.trim();
    if (!v) return;
    st.token = v;
    sessionStorage.setItem(TOKEN_KEY, v);
    $("token-input").value = "";
    $("token-form").hidden = true;
    st.asking = false;
    poll();
  });

  // ---- polling ----

  function selectedFromHash() {
    const m = /^#sweep=(\d+)$/.exec(location.hash);
    return m ? Number(m[1]) : null;
  }

  window.addEventListener("hashchange", () => {
    st.selected = selectedFromHash();
    st.curveMetric = null;
    if (st.busy) st.again = true; else poll();
  });

  function schedule() {
    clearTimeout(st.timer);
    st.timer = setTimeout(poll, st.again ? 0 : POLL_MS);
    st.again = false;
  }

  async function poll() {
    if (st.busy || st.asking) return;
    st.busy = true;
    clearTimeout(st.timer);
    try {
      // One call first: without the token only it is refused.
      const sweeps = await api("/v1/sweeps");
      const [workers, rules, costs] = await Promise.all([api("/v1/workers"), api("/v1/rules"),
        st.polls % LIST_COST_EVERY === 0 ? api("/v1/cost") : null]);
      if (costs) st.listCost = new Map(costs.map((c) => [c.sweep_id, c]));
      let sel = st.selected !== null ? st.selected : selectedFromHash();
      if (sel === null || !sweeps.some((x) => x.sweep_id === sel)) sel = pickDefault(sweeps);
      st.selected = sel;
      let detail = null;
      if (sel !== null) {
        const base = "/v1/sweeps/" + sel;
        const [results, curves, attempts, cost] = await Promise.all([
          api(base + "/results?limit=" + RESULTS_LIMIT),
          api(base + "/metrics?trials=" + CURVES + "&points=" + CURVE_POINTS +
            (st.curveMetric ? "&metric=" + encodeURIComponent(st.curveMetric) : "")),
          api(base + "/attempts?limit=" + ATTEMPTS_LIMIT),
          api(base + "/cost"),
        ]);
        st.listCost.set(sel, cost);
        detail = { summary: sweeps.find((x) => x.sweep_id === sel), results, curves,
          attempts, cost };
      }
      st.polls++;
      render(sweeps, workers, rules, detail);
      setStatus("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      if (e instanceof AuthError) {
        st.busy = false;
        askToken(!!st.token);
        return;
      }
      setStatus(e instanceof TypeError ? "cannot reach the scheduler; retrying" :
        String(e.message || e), true);
    }
    st.busy = false;
    schedule();
  }

  // The sweep shown when none is chosen: the newest active one, else the newest.
  function pickDefault(sweeps) {
    if (sweeps.length === 0) return null;
    const active = sweeps.filter((x) => x.pending + x.running > 0);
    const from = active.length ? active : sweeps;
    return from[from.length - 1].sweep_id;
  }

  // ---- rendering ----

  function render(sweeps, workers, rules, detail) {
    $("main").hidden = false;
    $("main").dataset.polls = String(st.polls);
    renderSweeps(sweeps);
    renderRules(rules);
    renderWorkers(workers);
    const d = $("sweep-detail");
    if (!detail) {
      d.hidden = true;
      d.removeAttribute("data-sweep-id");
      return;
    }
    d.hidden = false;
    const sum = detail.summary;
    $("sweep-title").textContent = "Sweep " + sum.sweep_id + ": " + sum.name;
    plotObjective(detail.results);
    plotParams(detail.results);
    plotCurves(detail.curves);
    plotTimeline(detail.attempts);
    renderSpend(detail.cost);
    d.dataset.sweepId = String(sum.sweep_id);
    d.dataset.polls = String(st.polls);
  }

  const COUNTS = ["pending", "running", "succeeded", "pruned", "abandoned", "cancelled"];

  function progressBar(sum) {
    const done = sum.succeeded + sum.pruned + sum.abandoned + sum.cancelled;
    const frac = sum.trials > 0 ? done / sum.trials : 0;
    const svg = s("svg", { class: "progress", viewBox: "0 0 100 10",
      preserveAspectRatio: "none", role: "img" });
    svg.append(s("rect", { class: "track", x: 0, y: 0, width: 100, height: 10 }));
    let x = 0;
    for (const k of ["succeeded", "pruned", "abandoned", "cancelled", "running"]) {
      const w = sum.trials > 0 ? 100 * sum[k] / sum.trials : 0;
      if (w > 0) svg.append(s("rect", { class: "seg " + k, x, y: 0, width: w, height: 10 }));
      x += w;
    }
    titled(svg, done + " of " + sum.trials + " trials done");
    return h("td", { "data-field": "progress", "data-done": done },
      svg, h("span", { class: "pct" }, Math.round(frac * 100) + "%"));
  }

  function renderSweeps(sweeps) {
    $("no-sweeps").hidden = sweeps.length > 0;
    $("sweeps").hidden = sweeps.length === 0;
    const body = $("sweeps").tBodies[0];
    const rows = [];
    for (const x of sweeps.slice().reverse()) {
      const cost = st.listCost.get(x.sweep_id);
      const tr = h("tr", { "data-sweep-id": x.sweep_id,
        class: x.sweep_id === st.selected ? "selected" : null },
        h("td", { "data-field": "sweep_id" }, x.sweep_id),
        h("td", { "data-field": "name" },
          h("a", { href: "#sweep=" + x.sweep_id }, x.name)),
        h("td", { "data-field": "state" }, x.pending + x.running > 0 ? "active" : "done"),
        progressBar(x),
        ...COUNTS.map((k) => h("td", { "data-field": k, class: "n" }, x[k])),
        h("td", { "data-field": "best", class: "n" },
          x.best ? num(x.best.value) + " (#" + x.best.trial_id + ")" : "–"),
        h("td", { "data-field": "spend", class: "n" }, cost ? money(cost.cost_usd) : "…"));
      tr.addEventListener("click", (ev) => {
        if (ev.target.tagName !== "A") location.hash = "#sweep=" + x.sweep_id;
      });
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  }

  function renderWorkers(workers) {
    const rows = workers.map((w) => h("tr", { "data-worker-id": w.worker_id },
      h("td", {}, w.name), h("td", {}, w.pool || "–"), h("td", {}, w.class || "–"),
      h("td", { class: "n" }, w.slots), h("td", {}, w.state),
      h("td", {}, (w.last_seen || "").replace("T", " "))));
    $("workers").tBodies[0].replaceChildren(...rows);
  }

  function renderRules(r) {
    const rows = r.pools.map((p) => {
      const next = p.next;
      let nextCell;
      if (next) {
        nextCell = h("td", { "data-field": "next", "data-at": next.at },
          "in " + duration(next.at - r.now) + " (" + utc(next.at) + "): " +
          next.decision.use + " by " + next.decision.rule);
      } else {
        nextCell = h("td", { "data-field": "next" },
          r.rules.length ? "none within " + duration(r.horizon_s) : "no rules");
      }
      return h("tr", { "data-pool": p.name === null ? "" : p.name },
        h("td", {}, p.name === null ? "(workers without a pool)" : p.name),
        h("td", {}, p.class || "–"),
        h("td", { class: "n" }, p.spot_price === null ? "unknown" : money(p.spot_price)),
        h("td", { "data-field": "use", class: "use " + p.decision.use }, p.decision.use),
        h("td", { "data-field": "rule" }, p.decision.index < 0 ? "(none holds)" :
          p.decision.rule + " (rules." + p.decision.index + ")"),
        nextCell);
    });
    $("rules-pools").tBodies[0].replaceChildren(...rows);
    const deciding = new Set(r.pools.map((p) => p.decision.index));
    const items = r.rules.map((x) => h("li", { "data-rule": x.index,
      class: deciding.has(x.index) ? "active" : null },
      h("strong", {}, x.name), ": " + x.when + " → ", h("span", { class: "use " + x.use }, x.use)));
    $("no-rules").hidden = items.length > 0;
    $("rules-list").replaceChildren(...items);
  }

  function renderSpend(c) {
    const rows = [];
    for (const cls of ["spot", "on-demand", "none"]) {
      const b = c.by_class[cls];
      if (!b || (cls === "none" && b.attempts === 0)) continue;
      rows.push(h("tr", { "data-class": cls }, h("td", {}, cls),
        h("td", { class: "n" }, b.attempts), h("td", { class: "n" }, num(b.gpu_hours)),
        h("td", { class: "n", "data-field": "cost", "data-value": b.cost_usd }, money(b.cost_usd))));
    }
    rows.push(h("tr", { "data-class": "total", class: "total" }, h("td", {}, "total"),
      h("td", { class: "n" }, c.attempts), h("td", { class: "n" }, num(c.gpu_hours)),
      h("td", { class: "n", "data-field": "cost", "data-value": c.cost_usd }, money(c.cost_usd))));
    if (c.on_demand) {
      rows.push(h("tr", { "data-class": "on-demand-equivalent" },
        h("td", {}, "all on demand"), h("td", {}, ""), h("td", { class: "n" }, "@ " +
          money(c.on_demand.price_per_hour) + "/h"),
        h("td", { class: "n", "data-field": "cost", "data-value": c.on_demand.cost_usd },
          money(c.on_demand.cost_usd))));
    }
    $("spend").tBodies[0].replaceChildren(...rows);
    let note = "";
    if (c.attempts === 0) {
      note = "No attempt has ended yet. ";
    } else if (c.on_demand) {
      note = (c.on_demand.savings_usd >= 0 ? "Saved " : "Spot cost ") +
        money(Math.abs(c.on_demand.savings_usd)) + " (" +
        Math.abs(c.on_demand.savings_pct).toFixed(1) + "%) against on-demand prices. ";
    } else {
      note = "No on-demand price known to compare with. ";
    }
    note += c.interrupted.attempts + " attempt" + (c.interrupted.attempts === 1 ? "" : "s") +
      " interrupted; " + money(c.interrupted.lost_cost_usd) + " of work redone.";
    if (c.running_attempts > 0) {
      note += " " + c.running_attempts + " running attempt" +
        (c.running_attempts === 1 ? " is" : "s are") + " counted when they end.";
    }
    $("spend-note").textContent = note;
  }

  // ---- scales and axes ----

  function extent(vals) {
    let lo = Infinity, hi = -Infinity;
    for (const v of vals) {
      if (v === null || !isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) {
      const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
      return [lo - pad, hi + pad];
    }
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }

  function niceTicks(a, b, n) {
    const span = b - a;
    if (!(span > 0)) return [a];
    const raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const e = raw / mag;
    const step = mag * (e >= 7.5 ? 10 : e >= 3.5 ? 5 : e >= 1.5 ? 2 : 1);
    const out = [];
    for (let v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) {
      out.push(Number(v.toPrecision(12)));
    }
    return out;
  }

  function linear(d, r) {
    const k = (r[1] - r[0]) / (d[1] - d[0]);
    const f = (v) => r[0] + (v - d[0]) * k;
    f.ticks = (n) => niceTicks(d[0], d[1], n);
    f.fmt = num;
    return f;
  }

  function logScale(d, r) {
    const l0 = Math.log10(d[0]), l1 = Math.log10(d[1]);
    const k = (r[1] - r[0]) / (l1 - l0 || 1);
    const f = (v) => r[0] + (Math.log10(v) - l0) * k;
    f.ticks = () => {
      const out = [];
      for (let p = Math.ceil(l0); p <= Math.floor(l1); p++) out.push(Math.pow(10, p));
      return out.length >= 2 ? out : [d[0], d[1]];
    };
    f.fmt = (v) => v.toExponential(0);
    return f;
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800];

  function timeScale(d, r) {
    const f = linear(d, r);
    f.ticks = (n) => {
      const raw = (d[1] - d[0]) / n;
      const step = TIME_STEPS.find((x) => x >= raw) || TIME_STEPS[TIME_STEPS.length - 1];
      const out = [];
      for (let t = Math.ceil(d[0] / step) * step; t <= d[1]; t += step) out.push(t);
      return out;
    };
    f.fmt = (t) => (d[1] - d[0] > 2 * 86400 ? utc(t).slice(5, 16) : clock(t));
    return f;
  }

  function newPlot(holder, name, w, hgt) {
    const svg = s("svg", { class: "chart", "data-plot": name, viewBox: "0 0 " + w + " " + hgt,
      role: "img" });
    holder.replaceChildren(svg);
    return svg;
  }

  function axes(svg, fr, xs, ys, xlabel, ylabel) {
    const g = s("g", { class: "axis" });
    g.append(s("line", { x1: fr.l, y1: fr.b, x2: fr.r, y2: fr.b }));
    g.append(s("line", { x1: fr.l, y1: fr.t, x2: fr.l, y2: fr.b }));
    if (xs) {
      for (const v of xs.ticks(5)) {
        const x = xs(v);
        if (x < fr.l - 0.5 || x > fr.r + 0.5) continue;
        g.append(s("line", { class: "tick", x1: x, y1: fr.b, x2: x, y2: fr.b + 4 }));
        g.append(s("text", { x, y: fr.b + 15, "text-anchor": "middle" }, xs.fmt(v)));
      }
    }
    for (const v of ys.ticks(5)) {
      const y = ys(v);
      if (y < fr.t - 0.5 || y > fr.b + 0.5) continue;
      g.append(s("line", { class: "grid", x1: fr.l, y1: y, x2: fr.r, y2: y }));
      g.append(s("text", { x: fr.l - 5, y: y + 3, "text-anchor": "end" }, ys.fmt(v)));
    }
    if (xlabel) {
      g.append(s("text", { class: "label", x: (fr.l + fr.r) / 2, y: fr.b + 29,
        "text-anchor": "middle" }, xlabel));
    }
    if (ylabel) {
      g.append(s("text", { class: "label", x: 12, y: (fr.t + fr.b) / 2, "text-anchor": "middle",
        transform: "rotate(-90 12 " + (fr.t + fr.b) / 2 + ")" }, ylabel));
    }
    svg.append(g);
  }

  function emptyNote(svg, w, hgt, text) {
    svg.append(s("text", { class: "empty", x: w / 2, y: hgt / 2, "text-anchor": "middle" }, text));
  }

  // ---- the plots ----

  function plotObjective(res) {
    const W = 560, H = 300, fr = { l: 62, r: W - 14, t: 12, b: H - 40 };
    const svg = newPlot($("plot-objective"), "objective", W, H);
    const pts = res.points;
    const minimize = res.goal !== "maximize";
    $("objective-note").textContent = (res.objective || "value") + ", " + res.goal +
      (res.shown < res.finished ? "; " + res.shown + " of " + res.finished + " shown" : "");
    if (pts.length === 0) {
      axes(svg, fr, null, linear([0, 1], [fr.b, fr.t]), "trials in completion order", res.objective);
      emptyNote(svg, W, H, "no finished trial yet");
      return;
    }
    const xs = linear([0.5, Math.max(res.finished, 1) + 0.5], [fr.l, fr.r]);
    const ys = linear(extent(pts.map((p) => p.value)), [fr.b, fr.t]);
    axes(svg, fr, xs, ys, "trials in completion order", res.objective);
    // The best so far: a step line, flat until the next improvement.
    let d = "", last = null;
    for (const p of pts) {
      if (p.best === null) continue;
      const x = xs(p.n), y = ys(p.best);
      if (last === null) d += "M" + x.toFixed(1) + " " + y.toFixed(1);
      else d += "H" + x.toFixed(1) + "V" + y.toFixed(1);
      last = p;
    }
    if (last !== null) {
      d += "H" + xs(res.finished).toFixed(1);
      svg.append(titled(s("path", { class: "best", d }),
        "best so far (" + (minimize ? "lowest" : "highest") + "): " + num(last.best)));
    }
    const g = s("g", { class: "points" });
    for (const p of pts) {
      g.append(titled(s("circle", { class: "pt " + p.state, cx: xs(p.n).toFixed(1),
        cy: ys(p.value).toFixed(1), r: 3.2, "data-trial-id": p.trial_id }),
      "trial " + p.trial_id + " (" + p.state + "): " + num(p.value)));
    }
    svg.append(g);
  }

  // Parameter values by dotted name ("optimizer.momentum"), as the CSV names them.
  function flatten(obj, prefix, out) {
    for (const [k, v] of Object.entries(obj || {})) {
      const name = prefix ? prefix + "." + k : k;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, name, out);
      else out[name] = v;
    }
    return out;
  }

  function plotParams(res) {
    const pts = res.points.map((p) => ({ p, flat: flatten(p.params, "", {}) }));
    let names = (res.params || []).filter((n) => typeof n === "string");
    if (names.length === 0 && pts.length) names = Object.keys(pts[0].flat);
    // Constant parameters say nothing about the objective.
    names = names.filter((n) => new Set(pts.map((x) => JSON.stringify(x.flat[n]))).size > 1 ||
      pts.length < 2);
    const shown = pts.length ? names.slice(0, MAX_FACETS) : [];
    $("params-note").textContent = shown.length ? shown.length + (names.length > shown.length ?
      " of " + names.length : "") + " varying parameter" + (names.length === 1 ? "" : "s") : "";
    const cols = shown.length > 1 ? 2 : 1, rows = Math.max(1, Math.ceil(shown.length / cols));
    const W = 560, FW = W / cols, FH = Math.max(150, 300 / rows), H = FH * rows;
    const svg = newPlot($("plot-params"), "params", W, H);
    if (pts.length === 0 || shown.length === 0) {
      emptyNote(svg, W, H, pts.length === 0 ? "no finished trial yet" : "no parameter varies");
      return;
    }
    const ys0 = extent(pts.map((x) => x.p.value));
    // Darker is better: each trial's rank among the shown ones.
    const order = pts.filter((x) => isFinite(x.p.value)).sort((a, b) => a.p.value - b.p.value);
    const shade = new Map();
    order.forEach((x, i) => {
      const rank = i / Math.max(order.length - 1, 1);
      shade.set(x, res.goal !== "maximize" ? rank : 1 - rank);
    });
    shown.forEach((name, i) => {
      const ox = (i % cols) * FW, oy = Math.floor(i / cols) * FH;
      const fr = { l: ox + 50, r: ox + FW - 10, t: oy + 18, b: oy + FH - 24 };
      const g = s("g", { class: "facet", "data-param": name });
      svg.append(g);
      g.append(s("text", { class: "facet-title", x: (fr.l + fr.r) / 2, y: oy + 12,
        "text-anchor": "middle" }, name));
      const raw = pts.map((x) => x.flat[name]);
      const numeric = raw.every((v) => typeof v === "number" && isFinite(v));
      let xs;
      if (numeric) {
        const [lo, hi] = [Math.min(...raw), Math.max(...raw)];
        // A log axis for values spread over decades and crowded at the low end, as a
        // log-uniform parameter's are (a uniform one's are not).
        const low = raw.filter((v) => v < (lo + hi) / 2).length / raw.length;
        xs = lo > 0 && hi / lo >= 100 && low > 0.8 ?
          logScale([lo / 1.3, hi * 1.3], [fr.l, fr.r]) : linear(extent(raw), [fr.l, fr.r]);
      } else {
        const cats = [...new Set(raw.map((v) => JSON.stringify(v)))].sort();
        const band = (fr.r - fr.l) / cats.length;
        xs = (v) => fr.l + band * (cats.indexOf(JSON.stringify(v)) + 0.5);
        xs.ticks = () => cats.map((c) => JSON.parse(c));
        xs.fmt = (v) => String(v).slice(0, 10);
      }
      const ys = linear(ys0, [fr.b, fr.t]);
      axes(g, fr, xs, ys, null, null);
      for (const x of pts) {
        const { p, flat } = x;
        if (!shade.has(x)) continue;
        g.append(titled(s("circle", { class: "pt " + p.state, cx: xs(flat[name]).toFixed(1),
          cy: ys(p.value).toFixed(1), r: 2.8,
          "fill-opacity": (1 - 0.75 * shade.get(x)).toFixed(2),
          "data-trial-id": p.trial_id }),
        "trial " + p.trial_id + ": " + name + " = " + JSON.stringify(flat[name]) + ", " +
          num(p.value)));
      }
    });
  }

  $("curve-metric").addEventListener("change", (ev) => {
    st.curveMetric = ev.target.value;
    if (st.busy) st.again = true; else poll();
  });

  // The metrics the sweep's trials report, the shown one selected.
  function metricChoice(cv) {
    const sel = $("curve-metric");
    const names = (cv.metrics || []).filter((n) => typeof n === "string");
    if (cv.metric && !names.includes(cv.metric)) names.unshift(cv.metric);
    const have = [...sel.options].map((o) => o.value);
    if (have.join("\n") !== names.join("\n")) {
      sel.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    }
    sel.value = cv.metric || "";
    sel.hidden = names.length < 2;
  }

  function plotCurves(cv) {
    metricChoice(cv);
    const W = 560, H = 300, fr = { l: 62, r: W - 14, t: 12, b: H - 40 };
    const svg = newPlot($("plot-curves"), "curves", W, H);
    const trials = cv.trials.filter((t) => t.points.length > 0);
    $("curves-note").textContent = ($("curve-metric").hidden ? (cv.metric || "") + ", " : "") +
      trials.length + " trial" + (trials.length === 1 ? "" : "s");
    const legend = $("curves-legend") || h("ul", { id: "curves-legend", class: "legend" });
    $("plot-curves").append(legend);
    if (trials.length === 0) {
      axes(svg, fr, null, linear([0, 1], [fr.b, fr.t]), "step", cv.metric);
      emptyNote(svg, W, H, cv.metric ? "no metric history yet" : "the sweep has no metric");
      legend.replaceChildren();
      return;
    }
    const steps = [], vals = [];
    for (const t of trials) {
      for (const p of t.points) { steps.push(p[0]); vals.push(p[1]); }
    }
    const [s0, s1] = [Math.min(...steps), Math.max(...steps)];
    const xs = linear(s0 === s1 ? [s0 - 1, s1 + 1] : [s0, s1], [fr.l, fr.r]);
    const ys = linear(extent(vals), [fr.b, fr.t]);
    axes(svg, fr, xs, ys, "step", cv.metric);
    const items = [];
    trials.forEach((t, i) => {
      const color = PALETTE[i % PALETTE.length];
      let d = "";
      t.points.forEach((p, j) => {
        d += (j ? "L" : "M") + xs(p[0]).toFixed(1) + " " + ys(p[1]).toFixed(1);
      });
      const cls = "curve " + t.state + (t.best ? " best-trial" : "");
      const g = s("g", { class: "trial-curve", "data-trial-id": t.trial_id });
      g.append(titled(s("path", { class: cls, d, stroke: color, "data-trial-id": t.trial_id }),
        "trial " + t.trial_id + " (" + t.state + ")" + (t.best ? ", the best" : "")));
      // Where a later attempt took over (after a preemption, from a checkpoint).
      for (let j = 1; j < t.points.length; j++) {
        if (t.points[j][2] !== t.points[j - 1][2]) {
          g.append(titled(s("circle", { class: "resume", cx: xs(t.points[j][0]).toFixed(1),
            cy: ys(t.points[j][1]).toFixed(1), r: 3.5, stroke: color }),
          "attempt " + t.points[j][2] + " resumed at step " + t.points[j][0]));
        }
      }
      svg.append(g);
      items.push(h("li", { "data-trial-id": t.trial_id },
        h("span", { class: "swatch", "data-color": i % PALETTE.length }),
        "#" + t.trial_id + " " + t.state + (t.best ? " (best)" : "") +
        (t.value !== null ? " " + num(t.value) : "")));
    });
    legend.replaceChildren(...items);
  }

  const OUTCOMES = ["succeeded", "failed", "preempted", "lost", "cancelled", "pruned"];

  function plotTimeline(at) {
    const list = at.attempts;
    const workers = [...new Set(list.map((a) => a.worker || "(no worker)"))].sort();
    // A worker with several slots runs attempts side by side: one lane each.
    const lanes = new Map(workers.map((w) => [w, []])), lane = new Map();
    for (const a of list.slice().sort((p, q) => p.started_at - q.started_at)) {
      const ends = lanes.get(a.worker || "(no worker)");
      let i = ends.findIndex((e) => e <= a.started_at);
      if (i < 0) i = ends.push(0) - 1;
      ends[i] = a.ended_at || Infinity;
      lane.set(a, i);
    }
    const LANE = 16, top = new Map();
    let nlanes = 0;
    for (const w of workers) {
      top.set(w, nlanes);
      nlanes += Math.max(1, lanes.get(w).length);
    }
    const W = 560, H = Math.max(120, 52 + LANE * nlanes);
    const fr = { l: 110, r: W - 14, t: 8, b: H - 36 };
    const svg = newPlot($("plot-timeline"), "timeline", W, H);
    const preempted = list.filter((a) => a.outcome === "preempted").length;
    $("timeline-note").textContent = (at.total > list.length ? "newest " + list.length +
      " of " + at.total : list.length) + " attempt" + (list.length === 1 ? "" : "s") +
      ", " + preempted + " preempted";
    if (list.length === 0) {
      emptyNote(svg, W, H, "no attempt yet");
      return;
    }
    const t0 = Math.min(...list.map((a) => a.started_at));
    const t1 = Math.max(at.now, ...list.map((a) => a.ended_at || at.now));
    const xs = timeScale([t0, t1 > t0 ? t1 : t0 + 1], [fr.l, fr.r]);
    const band = (fr.b - fr.t) / Math.max(nlanes, 1);
    const g = s("g", { class: "axis" });
    g.append(s("line", { x1: fr.l, y1: fr.b, x2: fr.r, y2: fr.b }));
    for (const v of xs.ticks(5)) {
      g.append(s("line", { class: "grid", x1: xs(v), y1: fr.t, x2: xs(v), y2: fr.b }));
      g.append(s("text", { x: xs(v), y: fr.b + 15, "text-anchor": "middle" }, xs.fmt(v)));
    }
    workers.forEach((w, i) => {
      const n = Math.max(1, lanes.get(w).length), y0 = fr.t + band * top.get(w);
      if (i > 0) g.append(s("line", { class: "grid", x1: fr.l, y1: y0, x2: fr.r, y2: y0 }));
      g.append(s("text", { class: "worker", x: fr.l - 6, y: y0 + band * n / 2 + 4,
        "text-anchor": "end" }, w.length > 16 ? w.slice(0, 15) + "…" : w));
    });
    g.append(s("text", { class: "label", x: (fr.l + fr.r) / 2, y: fr.b + 29,
      "text-anchor": "middle" }, "time (UTC)"));
    svg.append(g);
    const bars = s("g", { class: "bars" });
    for (const a of list) {
      const row = top.get(a.worker || "(no worker)") + lane.get(a);
      const end = a.ended_at || at.now;
      const x = xs(a.started_at), w = Math.max(1.5, xs(end) - x);
      const y = fr.t + band * row + band * 0.15, hh = band * 0.7;
      const outcome = OUTCOMES.includes(a.outcome) ? a.outcome : "running";
      const tip = "trial " + a.trial_id + " attempt " + a.attempt + " on " +
        (a.worker || "?") + (a.pool ? " (" + a.pool + ", " + (a.class || "no class") + ")" : "") +
        ": " + (a.outcome || "running") + (a.reason ? " (" + a.reason + ")" : "") + ", " +
        duration(end - a.started_at) + (a.cost_usd !== null ? ", " + money(a.cost_usd) : "");
      bars.append(titled(s("rect", { class: "attempt " + outcome + " " + (a.class || "none"),
        x: x.toFixed(1), y: y.toFixed(1), width: w.toFixed(1), height: hh.toFixed(1),
        "data-trial-id": a.trial_id, "data-attempt": a.attempt }), tip));
      if (a.outcome === "preempted" || a.outcome === "lost") {
        const ex = xs(end);
        bars.append(titled(s("path", { class: a.outcome === "preempted" ? "preempt" : "lost",
          d: "M" + (ex - 5).toFixed(1) + " " + (y - 3).toFixed(1) + "L" + (ex + 5).toFixed(1) +
            " " + (y - 3).toFixed(1) + "L" + ex.toFixed(1) + " " + (y + 6).toFixed(1) + "Z",
          "data-trial-id": a.trial_id, "data-attempt": a.attempt }), tip));
      }
    }
    svg.append(bars);
  }

  // ---- start ----

  st.selected = selectedFromHash();
  poll();
})();
