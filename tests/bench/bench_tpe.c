/* make bench, issue 9: what the bayes searcher and early stopping buy.
 *
 * (a) Search quality. Branin (2-d), Hartmann-6 (6-d) and a 6-d mixed function (a
 *     log-uniform learning rate, an integer, a log-spaced integer, two categoricals and a
 *     uniform), budgets of 50 and 100 trials, BENCH_TPE_SEEDS seeds each (default 20): the
 *     median best value and its interquartile range for random search, spotsweep's TPE
 *     (src/tpe.c with the spec defaults, called as the scheduler calls it: each trial's
 *     coordinates read back from its parameter JSON) and Optuna's TPESampler with its
 *     defaults (optuna_tpe.py through /usr/bin/python3, Debian's python3-optuna, run on the
 *     other core meanwhile; BENCH_TPE_NO_OPTUNA=1 skips it). Trials are sequential: one
 *     proposal, one result. Random search uses the same seeds as spotsweep's random start.
 *     The two searchers draw differently, so their runs are not paired, and the median of
 *     20 runs moves with the seeds by more than the target's 10%: Optuna's on mixed6 at 100
 *     trials is 0.076, 0.113, 0.074, 0.112 and 0.094 for seeds 1-20, 21-40, ... 81-100
 *     (0.105 over all 100); spotsweep's 0.023, 0.014, 0.007, 0.026, 0.010. Next to the
 *     relative difference of the medians comes a 90% bootstrap interval (the runs of each
 *     side resampled); an interval that spans the target needs more seeds to tell
 *     (BENCH_TPE_SEEDS, up to 100). BENCH_TPE_FIRST_SEED=21 runs seeds 21-40 (both sides),
 *     a held-out set for a change judged on seeds 1-20.
 * (b) The time to propose one trial after 1,000 finished ones (the mixed space): the model
 *     alone (mean of 50), and the scheduler's path, bayes_propose() on a store in DIR
 *     holding them (the history read, the proposal, the trial stored; mean of 50 inside one
 *     transaction, as the scheduler's group commit does, after a first cold call that
 *     parses every trial's parameters once).
 * (c) Early stopping: 20 synthetic sweeps of 81 learning curves of 81 steps on 9 workers,
 *     asynchronous hyperband (min_iter 3, eta 3, max_iter 81) through src/early-stop.c's
 *     rung rule, with and without resume_pruned, against running every trial to the end:
 *     the GPU-hours used and how often the trial with the best final loss ran to the end.
 * Figures only: nothing is asserted. Usage: bench_tpe [DIR]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "spotsweep/bayes.h"
#include "spotsweep/early-stop.h"
#include "spotsweep/expand.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/tpe.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define MAX_BUDGET	100
#define MAX_SEEDS	100

struct problem {
	const char	*name;
	const char	*spec;
	double		 optimum;
	double		(*f)(const json_t *params);
};

static double
num(const json_t *p, const char *k)
{
	return json_number_value(json_object_get(p, k));
}

static double
branin(const json_t *p)
{
	double x1 = num(p, "x1"), x2 = num(p, "x2");
	double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);

	return pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * cos(x1) + 10;
}

static double
hartmann6(const json_t *p)
{
	static const double alpha[4] = { 1.0, 1.2, 3.0, 3.2 };
	static const double a[4][6] = {
		{ 10, 3, 17, 3.5, 1.7, 8 }, { 0.05, 10, 17, 0.1, 8, 14 },
		{ 3, 3.5, 1.7, 10, 17, 8 }, { 17, 8, 0.05, 10, 0.1, 14 },
	};
	static const double pp[4][6] = {
		{ 0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886 },
		{ 0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991 },
		{ 0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650 },
		{ 0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381 },
	};
	char key[16];
	double x[6], sum = 0, inner;
	int i, j;

	for (j = 0; j < 6; j++) {
		snprintf(key, sizeof key, "x%d", j + 1);
		x[j] = num(p, key);
	}
	for (i = 0; i < 4; i++) {
		inner = 0;
		for (j = 0; j < 6; j++)
			inner += a[i][j] * (x[j] - pp[i][j]) * (x[j] - pp[i][j]);
		sum += alpha[i] * exp(-inner);
	}
	return -sum;
}

/* A training-run stand-in: the best learning rate depends on the optimiser; depth, width,
 * dropout and batch size each have a sweet spot. Minimum 0 (adam, lr 1e-3, 4 layers, 128
 * units, dropout 0.2, batch 64). */
static double
mixed6(const json_t *p)
{
	static const char *const opts[] = { "sgd", "momentum", "adam", "adamw", "rmsprop" };
	static const double centre[] = { -1.0, -1.5, -3.0, -3.0, -2.5 };
	static const double opt_cost[] = { 0.6, 0.4, 0.0, 0.05, 0.3 };
	const char *opt = json_string_value(json_object_get(p, "optimizer"));
	double lr = num(p, "lr"), layers = num(p, "layers"), units = num(p, "units");
	double dropout = num(p, "dropout"), batch = num(p, "batch_size");
	size_t i, o = 0;

	for (i = 0; i < 5; i++)
		if (opt != NULL && strcmp(opt, opts[i]) == 0)
			o = i;
	return pow(log10(lr) - centre[o], 2) / 2 + opt_cost[o] +
	    0.05 * pow(layers - 4, 2) + 0.1 * pow(log2(units) - 7, 2) +
	    2 * pow(dropout - 0.2, 2) + 0.1 * pow(log2(batch) - 6, 2);
}

static const struct problem problems[] = {
	{ "branin", "{\"name\":\"branin\",\"command\":\"true\",\"method\":\"bayes\","
	  "\"max_trials\":100,\"metric\":{\"name\":\"y\"},\"parameters\":{"
	  "\"x1\":{\"distribution\":\"uniform\",\"min\":-5,\"max\":10},"
	  "\"x2\":{\"distribution\":\"uniform\",\"min\":0,\"max\":15}}}",
	  0.397887, branin },
	{ "hartmann6", "{\"name\":\"hartmann6\",\"command\":\"true\",\"method\":\"bayes\","
	  "\"max_trials\":100,\"metric\":{\"name\":\"y\"},\"parameters\":{"
	  "\"x1\":{\"distribution\":\"uniform\",\"min\":0,\"max\":1},"
	  "\"x2\":{\"distribution\":\"uniform\",\"min\":0,\"max\":1},"
	  "\"x3\":{\"distribution\":\"uniform\",\"min\":0,\"max\":1},"
	  "\"x4\":{\"distribution\":\"uniform\",\"min\":0,\"max\":1},"
	  "\"x5\":{\"distribution\":\"uniform\",\"min\":0,\"max\":1},"
	  "\"x6\":{\"distribution\":\"uniform\",\"min\":0,\"max\":1}}}",
	  -3.32237, hartmann6 },
	{ "mixed6", "{\"name\":\"mixed6\",\"command\":\"true\",\"method\":\"bayes\","
	  "\"max_trials\":100,\"metric\":{\"name\":\"y\"},\"parameters\":{"
	  "\"lr\":{\"distribution\":\"log_uniform_values\",\"min\":1e-5,\"max\":1},"
	  "\"layers\":{\"distribution\":\"int_uniform\",\"min\":1,\"max\":10},"
	  "\"units\":{\"distribution\":\"q_log_uniform_values\",\"min\":8,\"max\":512,\"q\":1},"
	  "\"optimizer\":{\"values\":[\"sgd\",\"momentum\",\"adam\",\"adamw\",\"rmsprop\"]},"
	  "\"dropout\":{\"distribution\":\"uniform\",\"min\":0,\"max\":0.8},"
	  "\"batch_size\":{\"values\":[16,32,64,128,256]}}}",
	  0.0, mixed6 },
};
#define NPROBLEMS (sizeof problems / sizeof problems[0])

struct history {
	double		*x;		/* [MAX_BUDGET + 1000][dims] */
	struct tpe_obs	*obs;
	size_t		 n, dims;
};

static struct spec *
load_spec(const struct problem *pb)
{
	struct spec *s;
	char *cause = NULL;

	if (spec_parse("bench.json", pb->spec, strlen(pb->spec), &s, &cause) != 0) {
		fprintf(stderr, "bench_tpe: %s\n", cause);
		exit(1);
	}
	return s;
}

/* Evaluates the trial that draws u stand for, records it; returns its value. */
static double
evaluate(const struct problem *pb, const struct spec *s, const struct tpe_space *sp,
    const double *u, struct history *h)
{
	struct buf b = { 0 };
	char *cause = NULL;
	json_t *params;
	double y;

	if (expand_from_units(s, u, &b, &cause) != 0 ||
	    (params = json_loads(b.data, 0, NULL)) == NULL) {
		fprintf(stderr, "bench_tpe: %s\n", cause ? cause : "bad parameters");
		exit(1);
	}
	y = pb->f(params);
	if (tpe_point_from_json(sp, params, h->x + h->n * h->dims, &cause) != 0) {
		fprintf(stderr, "bench_tpe: %s\n", cause);
		exit(1);
	}
	h->obs[h->n].x = h->x + h->n * h->dims;
	h->obs[h->n].kind = TPE_OBS_DONE;
	h->obs[h->n].value = y;
	h->n++;
	json_decref(params);
	buf_free(&b);
	return y;
}

/* One run of budget trials; best[t] is the best value after t+1 trials. */
static void
run_one(const struct problem *pb, const struct spec *s, bool model, uint64_t seed,
    double *best)
{
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct history h = { 0 };
	double u[16], y;
	size_t t;

	tpe_options_from_spec(&o, s);
	if (!model)
		o.n_startup = MAX_BUDGET + 1;	/* random all the way */
	h.dims = tpe_space_dims(sp);
	h.x = xcalloc((MAX_BUDGET + 1) * h.dims, sizeof *h.x);
	h.obs = xcalloc(MAX_BUDGET + 1, sizeof *h.obs);
	for (t = 0; t < MAX_BUDGET; t++) {
		tpe_propose(sp, &o, h.obs, h.n, seed * 1000003 + t, u);
		y = evaluate(pb, s, sp, u, &h);
		best[t] = t == 0 || y < best[t - 1] ? y : best[t - 1];
	}
	free(h.x);
	free(h.obs);
	tpe_space_free(sp);
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Quantile q of n sorted values, linear between order statistics (numpy's default). */
static double
quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1), frac;
	size_t i = (size_t)pos;

	if (i + 1 >= n)
		return v[n - 1];
	frac = pos - (double)i;
	return v[i] + frac * (v[i + 1] - v[i]);
}

struct figures {
	double	med[2], q1[2], q3[2];	/* budgets 50, 100 */
	double	runs[2][MAX_SEEDS];	/* each run's best, sorted */
	size_t	n;
	bool	have;
};

static void
summarise(const double *bests50, const double *bests100, size_t n, struct figures *f)
{
	int b;

	memcpy(f->runs[0], bests50, n * sizeof *bests50);
	memcpy(f->runs[1], bests100, n * sizeof *bests100);
	f->n = n;
	for (b = 0; b < 2; b++) {
		qsort(f->runs[b], n, sizeof f->runs[b][0], dcmp);
		f->med[b] = quantile(f->runs[b], n, 0.5);
		f->q1[b] = quantile(f->runs[b], n, 0.25);
		f->q3[b] = quantile(f->runs[b], n, 0.75);
	}
	f->have = true;
}

/* The median of n values drawn with replacement from v (tmp: room for n). */
static double
resampled_median(const double *v, size_t n, double *tmp, struct prng *r)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		k = (size_t)(prng_uniform(r) * (double)n);
		tmp[i] = v[k < n ? k : n - 1];
	}
	qsort(tmp, n, sizeof *tmp, dcmp);
	return quantile(tmp, n, 0.5);
}

#define BOOTSTRAP	2000

/* A 90% percentile-bootstrap interval [*lo, *hi] of the relative difference of the medians
 * (a - o) / |o| at budget b, from each side's runs resampled independently. */
static void
median_diff_interval(const struct figures *a, const struct figures *o, int b, double *lo,
    double *hi)
{
	double *d = xcalloc(BOOTSTRAP, sizeof *d), tmp[MAX_SEEDS], ma, mo;
	struct prng r;
	size_t i, k = 0;

	prng_seed(&r, 9);
	for (i = 0; i < BOOTSTRAP; i++) {
		ma = resampled_median(a->runs[b], a->n, tmp, &r);
		mo = resampled_median(o->runs[b], o->n, tmp, &r);
		if (mo != 0)
			d[k++] = (ma - mo) / fabs(mo);
	}
	qsort(d, k, sizeof *d, dcmp);
	*lo = k > 0 ? quantile(d, k, 0.05) : NAN;
	*hi = k > 0 ? quantile(d, k, 0.95) : NAN;
	free(d);
}

/* Reads optuna_tpe.py's lines "PROBLEM SEED BEST50 BEST100" into per-problem figures. */
static void
read_optuna(FILE *in, size_t nseeds, struct figures *out)
{
	double b50[NPROBLEMS][MAX_SEEDS], b100[NPROBLEMS][MAX_SEEDS], x, y;
	size_t got[NPROBLEMS] = { 0 }, i;
	char name[64];
	int seed;

	while (fscanf(in, "%63s %d %lf %lf", name, &seed, &x, &y) == 4) {
		for (i = 0; i < NPROBLEMS; i++) {
			if (strcmp(name, problems[i].name) == 0 && got[i] < MAX_SEEDS) {
				b50[i][got[i]] = x;
				b100[i][got[i]] = y;
				got[i]++;
			}
		}
	}
	for (i = 0; i < NPROBLEMS; i++)
		if (got[i] == nseeds)
			summarise(b50[i], b100[i], got[i], &out[i]);
}

/* "median [q1, q3]" */
static void
cell(char *out, size_t len, const struct figures *f, int b)
{
	if (!f->have)
		snprintf(out, len, "(not run)");
	else
		snprintf(out, len, "%.4g [%.4g, %.4g]", f->med[b], f->q1[b], f->q3[b]);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- (c) early stopping on synthetic learning curves ------------------------------- */

#define CURVES		81
#define CURVE_STEPS	81
#define WORKERS		9

/* Trial i's loss at step t: from 2 down to its final value at its own pace, with noise. */
struct curve {
	double	final, tau, noise[CURVE_STEPS + 1];
};

static double
curve_at(const struct curve *c, int t)
{
	return c->final + (2.0 - c->final) * exp(-(double)t / c->tau) + c->noise[t];
}

struct sim_trial {
	int	 step;		/* reached */
	bool	 running, done, stopped, queued;
	int	 stop_rung;
};

struct sim_result {
	long	 gpu_steps;
	bool	 best_kept;	/* the trial with the best final loss ran to the end */
	int	 promoted;
};

/* One asynchronous sweep: WORKERS workers, trials started in order, each step one GPU-step;
 * a trial reaching a rung is judged there against the trials that reached it before. */
static void
simulate(const struct curve *cv, const struct early_policy *p, struct sim_result *res)
{
	struct sim_trial tr[CURVES] = { { 0 } };
	double rv[8][CURVES];
	int nr[8] = { 0 }, worker[WORKERS], next = 0, busy, i, w, k, best = 0, q;
	int64_t r;

	memset(res, 0, sizeof *res);
	for (i = 1; i < CURVES; i++)
		if (cv[i].final < cv[best].final)
			best = i;
	for (w = 0; w < WORKERS; w++)
		worker[w] = -1;
	do {
		busy = 0;
		for (w = 0; w < WORKERS; w++) {
			if (worker[w] < 0) {
				/* promoted trials first, then new ones */
				for (q = 0; q < CURVES && !tr[q].queued; q++)
					;
				if (q < CURVES) {
					tr[q].queued = false;
					worker[w] = q;
				} else if (next < CURVES)
					worker[w] = next++;
				else
					continue;
				tr[worker[w]].running = true;
				tr[worker[w]].stopped = false;
			}
			i = worker[w];
			busy++;
			tr[i].step++;
			res->gpu_steps++;
			if (tr[i].step >= CURVE_STEPS) {
				tr[i].done = true;
				tr[i].running = false;
				worker[w] = -1;
				continue;
			}
			for (k = 0; (r = early_rung_step(p, k)) >= 0 && k < 8; k++) {
				double v = curve_at(&cv[i], (int)r);
				int j, better;

				if (r != tr[i].step)
					continue;
				if (!early_rung_keep(p, v, rv[k], (size_t)nr[k])) {
					tr[i].stopped = true;
					tr[i].stop_rung = k;
					tr[i].running = false;
					worker[w] = -1;
				}
				rv[k][nr[k]++] = v;
				if (!p->resume_pruned)
					continue;
				/* promotions: stopped trials at rung k now in its top */
				for (j = 0; j < CURVES; j++) {
					double vj;
					int m;

					if (!tr[j].stopped || tr[j].stop_rung != k || j == i)
						continue;
					vj = curve_at(&cv[j], (int)r);
					for (m = 0, better = 0; m < nr[k]; m++)
						better += rv[k][m] < vj;
					if (better < (nr[k] + (int)p->eta - 1) / (int)p->eta) {
						tr[j].stopped = false;
						tr[j].queued = true;
						res->promoted++;
					}
				}
			}
		}
	} while (busy > 0);
	res->best_kept = tr[best].done;
}

/* Curve families: every trial at the same pace (early rank = final rank, but for the
 * noise), and paces that differ, so that curves cross. */
static const struct {
	const char	*name;
	double		 tau0, taur, noise;
} families[] = {
	{ "same pace", 8, 0, 0.01 },
	{ "crossing curves", 6, 2, 0.01 },
};

/* (b), the scheduler's path: bayes_propose() over a store with 1,000 finished trials. */
static void
bench_propose_store(const char *dir)
{
	const struct problem *pb = &problems[2];
	struct spec *s = load_spec(pb);
	struct bayes_cache *bc = bayes_cache_create();
	struct lease_request req = { .lease_timeout_s = 600 };
	struct metric_point pt = { .name = "y", .step = 1 };
	struct finish_report fr = { .outcome = OUTCOME_SUCCEEDED, .pts = &pt, .npts = 1 };
	enum trial_state next;
	struct store *st = NULL;
	struct lease l;
	json_t *params;
	char *path = xasprintf("%s/bench_tpe.db", dir), *cause = NULL;
	int64_t sweep, trial;
	uint64_t n;
	double t0, cold, warm;
	int i;

	unlink(path);
	if (store_open(path, &st, &cause) != 0 ||
	    store_sweep_create(st, s, "mixed6.json", &sweep, &n, &cause) != 0 ||
	    store_begin(st, &cause) != 0)
		goto fail;
	/* 1,000 finished trials: random proposals (no results yet), each run and scored */
	s->bayes_n_startup = 2000;
	for (i = 0; i < 1000; i++) {
		if (bayes_propose(st, bc, s, sweep, &trial, &cause) != 0)
			goto fail;
		req.now = now_wall();
		if (trial_lease(st, &req, &l, &cause) != 1)
			goto fail;
		params = json_loads(l.params, 0, NULL);
		pt.value = pb->f(params);
		json_decref(params);
		fr.now = now_wall();
		if (trial_finish(st, l.trial_id, l.attempt, &fr, &next, &cause) != 0)
			goto fail;
		lease_clear(&l);
	}
	if (store_commit(st, &cause) != 0)
		goto fail;
	s->bayes_n_startup = 10;
	bayes_cache_free(bc);
	bc = bayes_cache_create();
	if (store_begin(st, &cause) != 0)
		goto fail;
	t0 = now_s();
	if (bayes_propose(st, bc, s, sweep, &trial, &cause) != 0)
		goto fail;
	cold = now_s() - t0;
	t0 = now_s();
	for (i = 0; i < 50; i++)
		if (bayes_propose(st, bc, s, sweep, &trial, &cause) != 0)
			goto fail;
	warm = (now_s() - t0) / 50;
	store_rollback(st);
	printf("  through the scheduler (bayes_propose on the store): %.3f ms; the first, "
	    "parsing 1,000 trials' parameters: %.3f ms\n", warm * 1000, cold * 1000);
	goto out;
fail:
	printf("  through the scheduler: failed: %s\n", cause ? cause : "?");
	free(cause);
out:
	store_close(st);
	unlink(path);
	free(path);
	bayes_cache_free(bc);
	spec_free(s);
}

static void
bench_hyperband(int nseeds)
{
	struct curve cv[CURVES];
	struct early_policy p;
	struct sim_result res;
	struct prng r;
	double frac[MAX_SEEDS], full = (double)CURVES * CURVE_STEPS;
	int kept, promoted, seed, i, t, mode;
	size_t f;

	memset(&p, 0, sizeof p);
	p.kind = EARLY_HYPERBAND;
	p.first = 3;
	p.eta = 3;
	p.max_iter = CURVE_STEPS;
	p.minimize = true;
	printf("\nearly stopping: %d synthetic sweeps of %d learning curves of %d steps each, "
	    "%d workers;\nhyperband min_iter 3, eta 3, max_iter 81 (rungs at steps 3, 9, 27); "
	    "loss = final + (2 - final) exp(-step / pace) + noise\n", nseeds, CURVES,
	    CURVE_STEPS, WORKERS);
	for (f = 0; f < sizeof families / sizeof families[0]; f++) {
		for (mode = 0; mode < 2; mode++) {
			p.resume_pruned = mode == 1;
			kept = promoted = 0;
			for (seed = 0; seed < nseeds; seed++) {
				prng_seed(&r, 1000 + (uint64_t)seed);
				for (i = 0; i < CURVES; i++) {
					cv[i].final = 0.1 + 0.9 * prng_uniform(&r);
					cv[i].tau = families[f].tau0 +
					    families[f].taur * prng_uniform(&r);
					for (t = 0; t <= CURVE_STEPS; t++)
						cv[i].noise[t] = families[f].noise * prng_normal(&r);
				}
				simulate(cv, &p, &res);
				frac[seed] = (double)res.gpu_steps / full;
				kept += res.best_kept;
				promoted += res.promoted;
			}
			qsort(frac, (size_t)nseeds, sizeof frac[0], dcmp);
			printf("  %-16s %-19s GPU-hours %4.1f%% of running all to the end (median,"
			    " worst %4.1f%%); best trial kept in %d of %d", families[f].name,
			    mode == 0 ? "hyperband" : "hyperband+resume",
			    100 * quantile(frac, (size_t)nseeds, 0.5), 100 * frac[nseeds - 1],
			    kept, nseeds);
			if (mode == 1)
				printf("; %.1f promotions a sweep", (double)promoted / nseeds);
			printf("\n");
		}
	}
	printf("  (target: at most 40%% of the GPU-hours, the best trial kept)\n");
}


/* (b): mean time of one proposal after 1,000 finished trials of the mixed problem. */
static void
bench_propose_time(void)
{
	const struct problem *pb = &problems[2];
	struct spec *s = load_spec(pb);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct history h = { 0 };
	struct prng r;
	double u[16], t0, el;
	size_t i, d, reps = 50;

	tpe_options_from_spec(&o, s);
	h.dims = tpe_space_dims(sp);
	h.x = xcalloc(1001 * h.dims, sizeof *h.x);
	h.obs = xcalloc(1001, sizeof *h.obs);
	prng_seed(&r, 42);
	for (i = 0; i < 1000; i++) {
		for (d = 0; d < h.dims; d++)
			u[d] = prng_uniform(&r);
		evaluate(pb, s, sp, u, &h);
	}
	t0 = now_s();
	for (i = 0; i < reps; i++)
		tpe_propose(sp, &o, h.obs, h.n, 7 + i, u);
	el = (now_s() - t0) / (double)reps;
	printf("\nproposing one trial after 1,000 finished ones (6-d mixed, target < 5 ms):\n"
	    "  the model (tpe_propose): %.3f ms\n", el * 1000);
	free(h.x);
	free(h.obs);
	tpe_space_free(sp);
	spec_free(s);
}

int
main(int argc, char **argv)
{
	struct figures rnd[NPROBLEMS] = { 0 }, tpe[NPROBLEMS] = { 0 }, opt[NPROBLEMS] = { 0 };
	double t0 = now_s(), t_ours, t_optuna;
	double b50[2][MAX_SEEDS], b100[2][MAX_SEEDS], best[MAX_BUDGET];
	const char *script = getenv("BENCH_TPE_OPTUNA");
	const char *seeds_s = getenv("BENCH_TPE_SEEDS");
	const char *first_s = getenv("BENCH_TPE_FIRST_SEED");
	long nseeds = 20, first = 1;
	char cmd[1024];
	FILE *optuna = NULL;
	struct spec *s;
	size_t i, k, m;
	int b;

	if (seeds_s != NULL && (!safe_strtol(seeds_s, &nseeds) || nseeds < 1 ||
	    nseeds > MAX_SEEDS))
		nseeds = 20;
	if (first_s != NULL && (!safe_strtol(first_s, &first) || first < 1 ||
	    first > 1000000))
		first = 1;
	if (script == NULL)
		script = "tests/bench/optuna_tpe.py";
	/* Optuna runs on the other core while spotsweep's runs go here. */
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %ld %ld 2>/dev/null", script, nseeds,
	    first);
	if (getenv("BENCH_TPE_NO_OPTUNA") == NULL)
		optuna = popen(cmd, "r");

	for (i = 0; i < NPROBLEMS; i++) {
		s = load_spec(&problems[i]);
		for (m = 0; m < 2; m++) {
			for (k = 0; k < (size_t)nseeds; k++) {
				run_one(&problems[i], s, m == 1, (uint64_t)first + k, best);
				b50[m][k] = best[49];
				b100[m][k] = best[99];
			}
			summarise(b50[m], b100[m], (size_t)nseeds, m == 0 ? &rnd[i] : &tpe[i]);
		}
		spec_free(s);
	}
	t_ours = now_s() - t0;
	if (optuna != NULL) {
		read_optuna(optuna, (size_t)nseeds, opt);
		pclose(optuna);
	}
	t_optuna = now_s() - t0;
	printf("search quality: the median best value [interquartile range] over %ld seeds "
	    "(%ld-%ld), sequential trials,\nminimising; Optuna's TPESampler with its defaults "
	    "(spotsweep %.1f s, Optuna %.1f s on the other core)\n", nseeds, first,
	    first + nseeds - 1, t_ours, optuna != NULL ? t_optuna : 0.0);
	printf("%-10s %6s  %-27s %-27s %-27s %s\n", "function", "budget", "random",
	    "spotsweep tpe", "optuna tpe", "tpe vs optuna [90% interval]");
	for (i = 0; i < NPROBLEMS; i++) {
		for (b = 0; b < 2; b++) {
			char c1[64], c2[64], c3[64], rel[64] = "-";
			double lo, hi;

			cell(c1, sizeof c1, &rnd[i], b);
			cell(c2, sizeof c2, &tpe[i], b);
			cell(c3, sizeof c3, &opt[i], b);
			/* negative: spotsweep's median best is lower (better) */
			if (opt[i].have && opt[i].med[b] != 0) {
				median_diff_interval(&tpe[i], &opt[i], b, &lo, &hi);
				snprintf(rel, sizeof rel, "%+.1f%% [%+.0f%%, %+.0f%%]", 100 *
				    (tpe[i].med[b] - opt[i].med[b]) / fabs(opt[i].med[b]),
				    100 * lo, 100 * hi);
			}
			printf("%-10s %6d  %-27s %-27s %-27s %s%s\n", problems[i].name,
			    b == 0 ? 50 : 100, c1, c2, c3, rel,
			    tpe[i].med[b] < rnd[i].med[b] ? "" : "  (not better than random)");
		}
	}
	printf("(optima: branin 0.397887, hartmann6 -3.32237, mixed6 0; negative: spotsweep's "
	    "median best is lower; the interval: %d bootstrap resamples of each side's %ld "
	    "runs)\n", BOOTSTRAP, nseeds);
	bench_propose_time();
	bench_propose_store(argc > 1 ? argv[1] : "/tmp");
	bench_hyperband(20);
	return 0;
}
