/* Unit tests for the TPE searcher (tpe.c) and the bayes proposals on a store (bayes.c): the
 * fitted densities integrate to 1 for every kind of parameter, log distributions are
 * modelled in log space, integer, q and categorical parameters never come out of range,
 * proposals are reproducible and follow the goal, pending trials push proposals apart, and
 * a bayes sweep proposes, deduplicates and finishes when its space is used up. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "spotsweep/bayes.h"
#include "spotsweep/expand.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/tpe.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "store-fixture.h"

/* One parameter of each kind the estimator treats differently. */
static const char *const spec_kinds =
    "{\"name\": \"k\", \"command\": \"true\", \"method\": \"bayes\", \"max_trials\": 100,"
    " \"metric\": {\"name\": \"y\"}, \"parameters\": {"
    " \"u\": {\"distribution\": \"uniform\", \"min\": -2, \"max\": 3},"
    " \"lr\": {\"distribution\": \"log_uniform_values\", \"min\": 1e-5, \"max\": 1e-1},"
    " \"ln\": {\"distribution\": \"log_uniform\", \"min\": -9.21, \"max\": -2.3},"
    " \"nrm\": {\"distribution\": \"normal\", \"mu\": 1, \"sigma\": 2},"
    " \"layers\": {\"distribution\": \"int_uniform\", \"min\": 2, \"max\": 9},"
    " \"q\": {\"distribution\": \"q_uniform\", \"min\": 0, \"max\": 1, \"q\": 0.25},"
    " \"units\": {\"distribution\": \"q_log_uniform_values\", \"min\": 8, \"max\": 512, \"q\": 8},"
    " \"opt\": {\"values\": [\"sgd\", \"adam\", \"adamw\"], \"probabilities\": [0.2, 0.5, 0.3]},"
    " \"bs\": {\"values\": [16, 32, 64, 128]},"
    " \"fixed\": {\"value\": \"x\"}}}";

static struct spec *
parse(const char *text)
{
	struct spec *s;
	char *cause = NULL;

	ck_assert_msg(spec_parse("t.json", text, strlen(text), &s, &cause) == 0, "%s", cause);
	return s;
}

static size_t
dim_of(const struct spec *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nparams; i++)
		if (strcmp(s->params[i].name, name) == 0)
			return i;
	ck_abort_msg("no parameter %s", name);
	return 0;
}

static void
options(struct tpe_options *o, bool multivariate)
{
	o->n_startup = 10;
	o->gamma = 0.25;
	o->n_candidates = 24;
	o->prior_weight = 1.0;
	o->minimize = true;
	o->multivariate = multivariate;
	o->bandwidth = TPE_BANDWIDTH;
}

/* The total probability of a fitted estimator: the integral of the density over [0, 1]
 * (continuous), the masses of every cell (discrete), every category (categorical). */
static double
total(const struct tpe_space *sp, size_t d, const struct tpe_parzen *pz, size_t k)
{
	double sum = 0, lo, hi, x;
	int i, n = 20000;

	switch (tpe_dim_kind(sp, d)) {
	case TPE_DIM_CATEGORICAL:
		for (i = 0; i < (int)k; i++)
			sum += exp(tpe_parzen_log_density(pz, i));
		return sum;
	case TPE_DIM_DISCRETE:
		/* past each cell's end: ties there round either way (to even) */
		for (x = 0; x < 1; x = hi + 1e-9) {
			tpe_cell(sp, d, x, &lo, &hi);
			ck_assert_msg(hi > lo && hi > x - 1e-9, "cell [%g, %g] of %g", lo, hi, x);
			sum += exp(tpe_parzen_log_density(pz, x));
			if (hi >= 1)
				break;
		}
		return sum;
	default:
		for (i = 0; i < n; i++)
			sum += exp(tpe_parzen_log_density(pz, (i + 0.5) / n)) / n;
		return sum;
	}
}

START_TEST(test_densities_integrate_to_one)
{
	static const struct {
		const char	*param;
		size_t		 k;		/* categorical: values */
		double		 obs[8];	/* coordinates (categorical: indexes) */
		size_t		 nobs;
	} cases[] = {
		{ "u", 0, { 0 }, 0 },
		{ "u", 0, { 0.5 }, 1 },
		{ "u", 0, { 0.01, 0.02, 0.03, 0.99 }, 4 },
		{ "u", 0, { 0, 0, 0, 1, 1 }, 5 },
		{ "lr", 0, { 0.5, 0.51, 0.52, 0.2, 0.9 }, 5 },
		{ "ln", 0, { 0.1, 0.3 }, 2 },
		{ "nrm", 0, { 0.5, 0.6, 0.999 }, 3 },
		{ "layers", 0, { 0.0625, 0.1875, 0.9375 }, 3 },
		{ "layers", 0, { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 }, 8 },
		{ "q", 0, { 0, 0.25, 1 }, 3 },
		{ "units", 0, { 0.3, 0.31, 0.7 }, 3 },
		{ "units", 0, { 0 }, 0 },
		{ "opt", 3, { 1, 1, 2 }, 3 },
		{ "opt", 3, { 0 }, 0 },
		{ "bs", 4, { 3, 3, 3, 3, 0 }, 5 },
	};
	struct spec *s = parse(spec_kinds);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct tpe_parzen *pz;
	size_t i, d;
	int mv;
	double t;

	/* each observation's own weight, as the multivariate l has (one of them 0) */
	static const double wts[8] = { 1, 0.5, 0, 0.25, 0.9, 0.01, 1, 0.3 };

	/* univariate, multivariate, multivariate weighted */
	for (mv = 0; mv < 3; mv++) {
		options(&o, mv >= 1);
		for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			d = dim_of(s, cases[i].param);
			pz = tpe_parzen_fit_weighted(sp, d, cases[i].obs, mv == 2 ? wts : NULL,
			    cases[i].nobs, &o);
			t = total(sp, d, pz, cases[i].k);
			ck_assert_msg(fabs(t - 1) < 2e-3, "case %zu (%s, %s): total %.6f", i,
			    cases[i].param, mv == 0 ? "univariate" : mv == 1 ? "multivariate" :
			    "weighted", t);
			tpe_parzen_free(pz);
		}
	}
	tpe_space_free(sp);
	spec_free(s);
}
END_TEST

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The coordinate of a value: the prior's CDF, so log distributions are uniform in log. */
START_TEST(test_log_space)
{
	static const struct {
		const char	*params;	/* a trial's parameter object, one changed */
		const char	*param;
		double		 coord;
	} cases[] = {
		{ "\"lr\": 0.001", "lr", 0.5 },
		{ "\"lr\": 1e-5", "lr", 0 },
		{ "\"lr\": 0.1", "lr", 1 },
		{ "\"lr\": 1e-4", "lr", 0.25 },
		{ "\"ln\": 0.01", "ln", (log(0.01) + 9.21) / (9.21 - 2.3) },
		{ "\"u\": 0.5", "u", 0.5 },
		{ "\"nrm\": 1", "nrm", 0.5 },
		{ "\"layers\": 2", "layers", 0.0625 },
		{ "\"layers\": 9", "layers", 0.9375 },
		{ "\"units\": 64", "units", 0.5 },
		{ "\"opt\": \"adamw\"", "opt", 2 },
		{ "\"bs\": 64", "bs", 2 },
		{ "\"bs\": 64.0", "bs", 2 },
	};
	const char *base = "\"u\": 0, \"lr\": 0.001, \"ln\": 0.01, \"nrm\": 0, \"layers\": 2,"
	    " \"q\": 0.5, \"units\": 8, \"opt\": \"sgd\", \"bs\": 16, \"fixed\": \"x\"";
	struct spec *s = parse(spec_kinds);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct tpe_parzen *pz;
	struct prng r;
	char *text, *cause = NULL;
	double x[16], xs[6] = { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 }, v, logs[200];
	json_t *params, *over;
	size_t i, d;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		text = xasprintf("{%s}", base);
		params = json_loads(text, 0, NULL);
		free(text);
		text = xasprintf("{%s}", cases[i].params);
		over = json_loads(text, 0, NULL);
		free(text);
		ck_assert_ptr_nonnull(params);
		ck_assert_ptr_nonnull(over);
		json_object_update(params, over);
		ck_assert_msg(tpe_point_from_json(sp, params, x, &cause) == 0, "%s", cause);
		d = dim_of(s, cases[i].param);
		ck_assert_msg(fabs(x[d] - cases[i].coord) < 1e-9, "case %zu: %s is %.12g, not %.12g",
		    i, cases[i].params, x[d], cases[i].coord);
		json_decref(params);
		json_decref(over);
	}
	/* A missing parameter or a value that is not one of "values" is no point. */
	params = json_loads("{\"u\": 0}", 0, NULL);
	ck_assert_int_eq(tpe_point_from_json(sp, params, x, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "missing"));
	free(cause);
	cause = NULL;
	json_decref(params);

	/* Fitted to results at lr = 1e-3, draws centre on 1e-3 in log space: half below. */
	options(&o, false);
	d = dim_of(s, "lr");
	pz = tpe_parzen_fit(sp, d, xs, 6, &o);
	prng_seed(&r, 5);
	for (i = 0; i < 200; i++) {
		v = expand_param_number(&s->params[d], tpe_parzen_sample(pz, &r));
		ck_assert(v >= 1e-5 && v <= 1e-1);
		logs[i] = log10(v);
	}
	qsort(logs, 200, sizeof logs[0], dcmp);
	ck_assert_msg(fabs(logs[100] + 3) < 0.25, "median draw 10^%g, not 1e-3", logs[100]);
	/* symmetric in log space: as many draws a decade below as a decade above */
	for (i = 0, v = 0; i < 200; i++)
		v += logs[i] < -3 ? 1 : -1;
	ck_assert_msg(fabs(v) < 40, "lopsided draws: %g", v);
	tpe_parzen_free(pz);
	tpe_space_free(sp);
	spec_free(s);
}
END_TEST

/* Whatever the history, a proposal's parameters are values their distribution can take. */
START_TEST(test_never_out_of_range)
{
	struct spec *s = parse(spec_kinds);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct tpe_obs obs[60];
	struct prng r;
	struct buf b = { 0 };
	char *cause = NULL;
	double x[60][16], u[16], v;
	json_t *p, *e;
	size_t i, d, n, round;
	int mv;

	prng_seed(&r, 99);
	for (round = 0; round < 40; round++) {
		mv = round % 2;
		options(&o, mv == 1);
		o.minimize = round % 3 != 0;
		n = 10 + round;
		/* histories pushed against the ends of every range */
		for (i = 0; i < n; i++) {
			for (d = 0; d < s->nparams; d++)
				u[d] = round % 4 == 0 ? (i % 2 ? 0.999999 : 0) : prng_uniform(&r);
			ck_assert_int_eq(expand_from_units(s, u, &b, &cause), 0);
			p = json_loads(b.data, 0, NULL);
			ck_assert_int_eq(tpe_point_from_json(sp, p, x[i], &cause), 0);
			json_decref(p);
			obs[i].x = x[i];
			obs[i].kind = i % 7 == 6 ? TPE_OBS_PENDING : i % 5 == 4 ? TPE_OBS_PRUNED :
			    TPE_OBS_DONE;
			obs[i].value = prng_uniform(&r);
			obs[i].step = (int64_t)i;
		}
		tpe_propose(sp, &o, obs, n, round, u);
		ck_assert_int_eq(expand_from_units(s, u, &b, &cause), 0);
		p = json_loads(b.data, 0, NULL);
		ck_assert_ptr_nonnull(p);
		v = json_number_value(json_object_get(p, "layers"));
		ck_assert_msg(json_is_integer(json_object_get(p, "layers")) && v >= 2 && v <= 9,
		    "layers %s", b.data);
		v = json_number_value(json_object_get(p, "q"));
		ck_assert_msg(v >= 0 && v <= 1 && fmod(v, 0.25) == 0, "q %s", b.data);
		v = json_number_value(json_object_get(p, "units"));
		ck_assert_msg(v >= 8 && v <= 512 && fmod(v, 8) == 0, "units %s", b.data);
		v = json_number_value(json_object_get(p, "lr"));
		ck_assert_msg(v >= 1e-5 && v <= 1e-1, "lr %s", b.data);
		v = json_number_value(json_object_get(p, "u"));
		ck_assert_msg(v >= -2 && v < 3, "u %s", b.data);
		e = json_object_get(p, "opt");
		ck_assert_msg(json_is_string(e) && (strcmp(json_string_value(e), "sgd") == 0 ||
		    strcmp(json_string_value(e), "adam") == 0 ||
		    strcmp(json_string_value(e), "adamw") == 0), "opt %s", b.data);
		v = json_number_value(json_object_get(p, "bs"));
		ck_assert_msg(v == 16 || v == 32 || v == 64 || v == 128, "bs %s", b.data);
		ck_assert_str_eq(json_string_value(json_object_get(p, "fixed")), "x");
		json_decref(p);
	}
	buf_free(&b);
	tpe_space_free(sp);
	spec_free(s);
}
END_TEST

/* 1-d uniform on [0, 1): done trials with the objective f(x) = (x - centre)^2 by goal. */
static const char *const spec_1d =
    "{\"name\": \"d\", \"command\": \"true\", \"method\": \"bayes\", \"max_trials\": 100,"
    " \"metric\": {\"name\": \"y\"},"
    " \"parameters\": {\"x\": {\"distribution\": \"uniform\", \"min\": 0, \"max\": 1}}}";

START_TEST(test_proposals)
{
	static const struct {
		const char	*what;
		bool		 minimize;
		double		 centre;	/* of the good region */
		size_t		 n;		/* results */
		size_t		 pending;	/* in flight, at the first proposal */
		bool		 model;		/* expected: tpe (true) or random */
	} cases[] = {
		{ "startup is random", true, 0.2, 9, 0, false },
		{ "minimize", true, 0.2, 30, 0, true },
		{ "maximize", false, 0.8, 30, 0, true },
		{ "pending do not count as results", true, 0.2, 9, 5, false },
		{ "constant liar", true, 0.7, 30, 4, true },
	};
	struct spec *s = parse(spec_1d);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct tpe_obs obs[64];
	double x[64], u1, u2, near;
	size_t i, j, k;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		options(&o, true);
		o.minimize = cases[i].minimize;
		for (j = 0; j < cases[i].n; j++) {
			x[j] = (j + 0.5) / (double)cases[i].n;
			obs[j].x = &x[j];
			obs[j].kind = TPE_OBS_DONE;
			/* maximising: the best values are the largest */
			obs[j].value = (cases[i].minimize ? 1 : -1) *
			    (x[j] - cases[i].centre) * (x[j] - cases[i].centre);
		}
		for (k = 0; k < cases[i].pending; k++, j++) {
			x[j] = cases[i].centre;
			obs[j].x = &x[j];
			obs[j].kind = TPE_OBS_PENDING;
		}
		ck_assert_msg(tpe_propose(sp, &o, obs, j, 42, &u1) == cases[i].model, "%s",
		    cases[i].what);
		/* reproducible */
		ck_assert(tpe_propose(sp, &o, obs, j, 42, &u2) == cases[i].model);
		ck_assert_msg(u1 == u2, "%s: %g then %g", cases[i].what, u1, u2);
		if (!cases[i].model)
			continue;
		/* most proposals land near the good region */
		for (k = 0, near = 0; k < 50; k++) {
			tpe_propose(sp, &o, obs, j, 1000 + k, &u1);
			near += fabs(u1 - cases[i].centre) < 0.15;
		}
		ck_assert_msg(near >= 35, "%s: %g of 50 near %g", cases[i].what, near,
		    cases[i].centre);
		if (cases[i].pending == 0)
			continue;
		/* with the good region already in flight, the same draws score worse near it:
		 * a proposal may move away from it, never towards it */
		for (k = 0, near = 0; k < 50; k++) {
			tpe_propose(sp, &o, obs, cases[i].n, 1000 + k, &u1);
			tpe_propose(sp, &o, obs, j, 1000 + k, &u2);
			ck_assert_msg(fabs(u2 - cases[i].centre) >= fabs(u1 - cases[i].centre),
			    "%s: %g moved to %g, towards %g", cases[i].what, u1, u2,
			    cases[i].centre);
			near += fabs(u2 - cases[i].centre) > fabs(u1 - cases[i].centre);
		}
		ck_assert_msg(near >= 5, "%s: only %g of 50 moved away", cases[i].what, near);
	}
	tpe_space_free(sp);
	spec_free(s);
}
END_TEST

/* The default multivariate width is half of Optuna's where Scott's rule sets it, and the
 * same where the clip at 1/(n + 2) does: n observations all at 0.5 in one dimension, whose
 * density there is about their share over the kernel's width. */
START_TEST(test_bandwidth)
{
	static const struct {
		size_t	n;
		double	lo, hi;		/* ratio of the densities at 0.5: ours / Optuna's */
	} cases[] = {
		{ 3, 0.999, 1.001 },	/* 0.1 * 3^-1/5 and 0.2 * 3^-1/5 both under 1/5 */
		{ 40, 1.9, 2.0 },	/* 0.048 and 0.096, over 1/42: one is half the other */
	};
	struct spec *s = parse(spec_1d);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct tpe_parzen *pz;
	double xs[40], ours, optuna, r;
	size_t i, j;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (j = 0; j < cases[i].n; j++)
			xs[j] = 0.5;
		options(&o, true);
		pz = tpe_parzen_fit(sp, 0, xs, cases[i].n, &o);
		ours = tpe_parzen_log_density(pz, 0.5);
		tpe_parzen_free(pz);
		o.bandwidth = 0.2;
		pz = tpe_parzen_fit(sp, 0, xs, cases[i].n, &o);
		optuna = tpe_parzen_log_density(pz, 0.5);
		tpe_parzen_free(pz);
		r = exp(ours - optuna);
		ck_assert_msg(r >= cases[i].lo && r <= cases[i].hi, "%zu observations: ratio %g",
		    cases[i].n, r);
	}
	tpe_space_free(sp);
	spec_free(s);
}
END_TEST

/* The multivariate l weighs each good trial by its improvement on the threshold: of two
 * good regions, the one whose trials are much better draws the proposals even with fewer
 * trials there; with equal values the one with more trials does (the largest l/g wins).
 * 20 results: 2 at 0.2, 3 at 0.8, the rest spread elsewhere with value 1 (the good group
 * is the best 5). */
START_TEST(test_improvement_weights)
{
	static const struct {
		double	at02, at08;	/* the values there */
		int	min02, max02;	/* of 100 proposals, how many near 0.2 */
	} cases[] = {
		{ 0.0, 0.99, 90, 100 },	/* 0.8 improves by 0.01, 0.2 by 1: weights 0.01, 1 */
		{ 0.99, 0.0, 0, 10 },
		{ 0.5, 0.5, 0, 10 },	/* ties: all weigh 1, three kernels against two */
	};
	static const double rest[15] = { 0.02, 0.06, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65,
	    0.95, 0.98, 0.38, 0.48, 0.58, 0.62 };
	struct spec *s = parse(spec_1d);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct tpe_obs obs[20];
	double x[20], u;
	size_t i, j;
	int near02, near08;

	options(&o, true);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (j = 0; j < 20; j++) {
			x[j] = j < 2 ? 0.2 : j < 5 ? 0.8 : rest[j - 5];
			obs[j].x = &x[j];
			obs[j].kind = TPE_OBS_DONE;
			obs[j].value = j < 2 ? cases[i].at02 : j < 5 ? cases[i].at08 : 1.0;
		}
		near02 = near08 = 0;
		for (j = 0; j < 100; j++) {
			ck_assert(tpe_propose(sp, &o, obs, 20, 500 + j, &u));
			near02 += fabs(u - 0.2) < 0.1;
			near08 += fabs(u - 0.8) < 0.1;
		}
		ck_assert_msg(near02 >= cases[i].min02 && near02 <= cases[i].max02,
		    "case %zu: %d of 100 near 0.2, %d near 0.8", i, near02, near08);
		ck_assert_msg(near02 + near08 >= 90, "case %zu: %d of 100 near 0.2, %d near 0.8",
		    i, near02, near08);
	}
	tpe_space_free(sp);
	spec_free(s);
}
END_TEST

/* Pruned trials rank after finished ones, deeper first: a result from a pruned trial never
 * makes the good group while enough finished ones are there. */
START_TEST(test_pruned_rank_last)
{
	struct spec *s = parse(spec_1d);
	struct tpe_space *sp = tpe_space_create(s);
	struct tpe_options o;
	struct tpe_obs obs[40];
	double x[40], u, near = 0;
	size_t j, k;

	options(&o, true);
	for (j = 0; j < 40; j++) {
		x[j] = (j + 0.5) / 40;
		obs[j].x = &x[j];
		/* pruned trials near 0.1 with tiny values; finished ones best near 0.8 */
		obs[j].kind = x[j] < 0.3 ? TPE_OBS_PRUNED : TPE_OBS_DONE;
		obs[j].value = x[j] < 0.3 ? -100 : (x[j] - 0.8) * (x[j] - 0.8);
		obs[j].step = 3;
	}
	for (k = 0; k < 40; k++) {
		tpe_propose(sp, &o, obs, 40, k, &u);
		near += fabs(u - 0.8) < 0.15;
	}
	ck_assert_msg(near >= 28, "%g of 40 near the finished trials' best", near);
	tpe_space_free(sp);
	spec_free(s);
}
END_TEST

/* One-parameter spaces named as in the cases of test_optuna_densities below. */
static const struct {
	const char	*name;
	const char	*param;
} ref_params[] = {
	{ "x", "{\"distribution\": \"uniform\", \"min\": 0, \"max\": 1}" },
	{ "lr", "{\"distribution\": \"log_uniform_values\", \"min\": 1e-5, \"max\": 1}" },
	{ "layers", "{\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 10}" },
	{ "opt", "{\"values\": [\"sgd\", \"momentum\", \"adam\", \"adamw\", \"rmsprop\"]}" },
};

/* The coordinate of value v of the only parameter of sp (categorical: v is the index). */
static double
ref_unit(const struct tpe_space *sp, double v)
{
	json_t *params;
	char *cause = NULL;
	double x;

	if (tpe_dim_kind(sp, 0) == TPE_DIM_CATEGORICAL)
		return v;
	params = json_pack("{s:f}", "p", v);
	ck_assert_msg(tpe_point_from_json(sp, params, &x, &cause) == 0, "%s", cause);
	json_decref(params);
	return x;
}

/* The estimator is Optuna's (TPESampler's defaults: prior weight 1, magic clip, no
 * endpoints, the ramp of weights past 25 observations, Scott's rule when multivariate):
 * for a known history, the log density (continuous: per unit of the coordinate, so a log
 * distribution's is Optuna's plus log(log(max / min))), the log mass of an integer's cell,
 * or the log probability of a category equals what Optuna's _ParzenEstimator gives. The
 * rows come from tests/bench/optuna_tpe_densities.py (one parameter, so the multivariate
 * width is 0.2 n^(-1/5)), which says where it departs from Optuna 3.1 and why. spotsweep's
 * default multivariate width is half of Optuna's (TPE_BANDWIDTH): the multivariate cases
 * run with Optuna's, and test_bandwidth checks that the default halves every kernel. */
START_TEST(test_optuna_densities)
{
	static const struct {
		const char	*param;
		bool		 multivariate;
		size_t		 nobs;
		double		 obs[40];	/* values (categorical: indexes), oldest first */
		size_t		 npts;
		double		 pts[5];	/* where to evaluate */
		double		 logp[5];	/* what Optuna gives there */
	} cases[] = {
		{ "x", false, 0, { 0 },
		  4, { 0.001, 0.3, 0.5, 0.999 }, { -0.0835226995091, 0.0209778004909, 0.0409778004909, -0.0835226995091 } },
		{ "x", false, 1, { 0.2 },
		  4, { 0.001, 0.2, 0.25, 0.9 }, { 0.146500788822, 0.286652484749, 0.284822777424, -0.557200988015 } },
		{ "x", false, 5, { 0.1, 0.15, 0.8, 0.95, 0.4 },
		  4, { 0.05, 0.12, 0.5, 0.99 }, { 0.176059100162, 0.268491967326, -0.256165449482, 0.0908517218819 } },
		{ "x", false, 40, { 0.222, 0.871, 0.207, 0.919, 0.488, 0.612, 0.766, 0.518, 0.297, 0.188, 0.081, 0.738, 0.441, 0.158, 0.88, 0.274, 0.414, 0.296, 0.629, 0.58, 0.6, 0.266, 0.285, 0.254, 0.328, 0.144, 0.166, 0.964, 0.96, 0.188, 0.024, 0.205, 0.7, 0.78, 0.023, 0.578, 0.002, 0.515, 0.64, 0.986 },
		  4, { 0.01, 0.33, 0.66, 0.97 }, { 0.602538469265, -0.319798641089, -0.213838362284, 0.408156516555 } },
		{ "lr", false, 4, { 0.001, 0.002, 0.5, 1e-05 },
		  4, { 1.2e-05, 0.0001, 0.0015, 0.9 }, { -0.220414276518, 0.0068644952411, 0.290851235132, -0.465375061428 } },
		{ "layers", false, 0, { 0 },
		  3, { 1, 5, 10 }, { -2.36318954427, -2.26327284841, -2.36318954427 } },
		{ "layers", false, 6, { 4, 4, 5, 10, 1, 2 },
		  5, { 1, 3, 4, 7, 10 }, { -2.04224158696, -1.92368629625, -1.84473780327, -2.78877843623, -3.27466008364 } },
		{ "layers", false, 30, { 2, 10, 6, 8, 1, 10, 7, 1, 6, 3, 9, 7, 9, 1, 6, 3, 1, 8, 8, 7, 1, 1, 9, 6, 6, 10, 7, 5, 6, 3 },
		  4, { 1, 4, 8, 10 }, { -1.63163182079, -3.50577311926, -2.25513156478, -2.31160536304 } },
		{ "opt", false, 0, { 0 },
		  3, { 0, 2, 4 }, { -1.60943791243, -1.60943791243, -1.60943791243 } },
		{ "opt", false, 4, { 2, 2, 3, 0 },
		  5, { 0, 1, 2, 3, 4 }, { -1.51412773263, -2.1202635362, -1.13943428319, -1.51412773263, -2.1202635362 } },
		{ "opt", false, 30, { 4, 3, 0, 0, 1, 4, 3, 4, 1, 0, 0, 2, 4, 3, 2, 4, 1, 2, 3, 4, 3, 4, 3, 1, 4, 2, 3, 4, 1, 4 },
		  5, { 0, 1, 2, 3, 4 }, { -2.02142325936, -1.69045966525, -1.86880214635, -1.50127520414, -1.18435227702 } },
		{ "x", true, 0, { 0 },
		  4, { 0.001, 0.3, 0.5, 0.999 }, { -0.0835226995091, 0.0209778004909, 0.0409778004909, -0.0835226995091 } },
		{ "x", true, 1, { 0.2 },
		  4, { 0.001, 0.2, 0.25, 0.9 }, { 0.146500788822, 0.286652484749, 0.284822777424, -0.557200988015 } },
		{ "x", true, 5, { 0.1, 0.15, 0.8, 0.95, 0.4 },
		  4, { 0.05, 0.12, 0.5, 0.99 }, { 0.16548849209, 0.309767498676, -0.440585068251, 0.0598042752252 } },
		{ "x", true, 40, { 0.51, 0.961, 0.372, 0.012, 0.86, 0.111, 0.478, 0.85, 0.515, 0.447, 0.8, 0.02, 0.573, 0.411, 0.985, 0.801, 0.054, 0.19, 0.452, 0.703, 0.332, 0.36, 0.921, 0.954, 0.408, 0.899, 0.33, 0.083, 0.527, 0.661, 0.893, 0.965, 0.77, 0.759, 0.71, 0.702, 0.767, 0.974, 0.374, 0.083 },
		  4, { 0.01, 0.33, 0.66, 0.97 }, { -0.377641971072, -0.107578461896, -0.0198275210892, 0.285641282883 } },
		{ "lr", true, 4, { 0.001, 0.002, 0.5, 1e-05 },
		  4, { 1.2e-05, 0.0001, 0.0015, 0.9 }, { 0.170668239778, 0.0414102799863, 0.177609247963, -0.104009167673 } },
		{ "layers", true, 0, { 0 },
		  3, { 1, 5, 10 }, { -2.36318954427, -2.26327284841, -2.36318954427 } },
		{ "layers", true, 6, { 4, 4, 5, 10, 1, 2 },
		  5, { 1, 3, 4, 7, 10 }, { -2.10492553351, -1.88356134265, -1.89306919615, -3.09064048716, -2.57768830086 } },
		{ "layers", true, 30, { 3, 4, 2, 3, 5, 10, 1, 2, 3, 4, 9, 6, 6, 5, 4, 10, 6, 10, 7, 10, 6, 2, 2, 1, 9, 1, 6, 10, 4, 4 },
		  4, { 1, 4, 8, 10 }, { -2.32501866038, -2.18234537957, -2.85691106894, -2.139058858 } },
		{ "opt", true, 0, { 0 },
		  3, { 0, 2, 4 }, { -1.60943791243, -1.60943791243, -1.60943791243 } },
		{ "opt", true, 4, { 2, 2, 3, 0 },
		  5, { 0, 1, 2, 3, 4 }, { -1.51412773263, -2.1202635362, -1.13943428319, -1.51412773263, -2.1202635362 } },
		{ "opt", true, 30, { 0, 3, 3, 3, 2, 2, 0, 3, 4, 1, 3, 3, 3, 1, 1, 2, 4, 2, 2, 4, 0, 0, 1, 4, 3, 1, 0, 3, 2, 1 },
		  5, { 0, 1, 2, 3, 4 }, { -1.8623154109, -1.53916090737, -1.53916090737, -1.34225112694, -1.86880214635 } },
	};
	struct tpe_options o;
	struct tpe_parzen *pz;
	struct tpe_space *sp;
	struct spec *s;
	char *text;
	double xs[40], got;
	size_t i, j, k;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (k = 0; k < sizeof ref_params / sizeof ref_params[0]; k++)
			if (strcmp(ref_params[k].name, cases[i].param) == 0)
				break;
		ck_assert_msg(k < sizeof ref_params / sizeof ref_params[0], "%s", cases[i].param);
		text = xasprintf("{\"name\": \"r\", \"command\": \"true\", \"method\": \"bayes\","
		    " \"max_trials\": 10, \"metric\": {\"name\": \"y\"}, \"parameters\":"
		    " {\"p\": %s}}", ref_params[k].param);
		s = parse(text);
		sp = tpe_space_create(s);
		options(&o, cases[i].multivariate);
		o.bandwidth = 0.2;	/* Optuna's multivariate width, not spotsweep's */
		for (j = 0; j < cases[i].nobs; j++)
			xs[j] = ref_unit(sp, cases[i].obs[j]);
		pz = tpe_parzen_fit(sp, 0, xs, cases[i].nobs, &o);
		for (j = 0; j < cases[i].npts; j++) {
			got = tpe_parzen_log_density(pz, ref_unit(sp, cases[i].pts[j]));
			ck_assert_msg(fabs(got - cases[i].logp[j]) < 1e-5,
			    "case %zu (%s, %s, %zu observations) at %g: %.9f, Optuna %.9f", i,
			    cases[i].param, cases[i].multivariate ? "multivariate" : "univariate",
			    cases[i].nobs, cases[i].pts[j], got, cases[i].logp[j]);
		}
		tpe_parzen_free(pz);
		tpe_space_free(sp);
		spec_free(s);
		free(text);
	}
}
END_TEST

/* --- bayes.c on a store ----------------------------------------------------------- */

static void
setup(void)
{
	store_fixture_open("check_tpe");
}

static void
teardown(void)
{
	store_fixture_close();
}

static int64_t
query_int(const char *sql, int64_t arg)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, arg);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* Runs trial_id to success with value y. */
static void
finish(int64_t trial_id, double y)
{
	struct lease_request req = { .lease_timeout_s = 60, .now = now_wall() };
	struct metric_point pt = { .name = "y", .step = 1, .value = y, .at = now_wall() };
	struct finish_report r = { .outcome = OUTCOME_SUCCEEDED, .exit_code = 0, .pts = &pt,
	    .npts = 1, .now = now_wall() };
	enum trial_state next;
	struct lease l;
	char *cause = NULL;

	ck_assert_int_eq(trial_lease(st, &req, &l, &cause), 1);
	ck_assert_int_eq(l.trial_id, trial_id);
	ck_assert_int_eq(trial_finish(st, l.trial_id, l.attempt, &r, &next, &cause), TRIAL_OK);
	lease_clear(&l);
}

/* A space of 2 x 3 = 6 points: proposals never repeat one, and the seventh finds none new,
 * caps the sweep at 6 trials and lets it finish. */
START_TEST(test_bayes_exhausts_space)
{
	const char *text = "{\"name\": \"e\", \"command\": \"true\", \"method\": \"bayes\","
	    " \"max_trials\": 20, \"seed\": 4, \"metric\": {\"name\": \"y\"},"
	    " \"bayes\": {\"n_startup\": 2},"
	    " \"parameters\": {\"a\": {\"values\": [1, 2]}, \"b\": {\"distribution\":"
	    " \"int_uniform\", \"min\": 0, \"max\": 2}}}";
	struct spec *s = parse(text);
	struct bayes_cache *bc = bayes_cache_create();
	char *cause = NULL;
	int64_t sweep, trial, n;
	uint64_t nt;
	int i;

	ck_assert_int_eq(store_sweep_create(st, s, "e.json", &sweep, &nt, &cause), 0);
	ck_assert_uint_eq(nt, 0);
	for (i = 0; i < 6; i++) {
		ck_assert_msg(bayes_propose(st, bc, s, sweep, &trial, &cause) == 0, "%s", cause);
		ck_assert_msg(trial != 0, "proposal %d found nothing new", i + 1);
		finish(trial, (double)i);
	}
	n = query_int("SELECT count(DISTINCT params) FROM trials WHERE sweep_id = ?", sweep);
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(bayes_propose(st, bc, s, sweep, &trial, &cause), 0);
	ck_assert_int_eq(trial, 0);
	ck_assert_int_eq(query_int("SELECT max_trials FROM sweeps WHERE id = ?", sweep), 6);
	ck_assert_int_eq(query_int("SELECT state = 'done' FROM sweeps WHERE id = ?", sweep), 1);
	bayes_cache_free(bc);
	spec_free(s);
}
END_TEST

static const struct spec *
spec_by_arg(void *arg, int64_t sweep_id, char **cause)
{
	(void)sweep_id;
	(void)cause;
	return arg;
}

/* bayes_fill proposes only when nothing is pending, below max_trials and "parallel". */
START_TEST(test_bayes_fill)
{
	const char *text = "{\"name\": \"f\", \"command\": \"true\", \"method\": \"bayes\","
	    " \"max_trials\": 3, \"metric\": {\"name\": \"y\"}, \"bayes\": {\"parallel\": 2},"
	    " \"parameters\": {\"x\": {\"distribution\": \"uniform\", \"min\": 0, \"max\": 1}}}";
	static const struct {
		const char	*what;
		int		 lease;		/* trials to lease (to running) first */
		bool		 every;		/* the tick's: one ready in each sweep */
		int		 added;
	} steps[] = {
		{ "an empty sweep gets one", 0, false, 1 },
		{ "not while one is pending", 0, false, 0 },
		{ "nor on the tick", 0, true, 0 },
		{ "one running: the tick readies a second", 1, true, 1 },
		{ "two running: parallel is 2", 1, false, 0 },
	};
	struct spec *s = parse(text);
	struct bayes_cache *bc = bayes_cache_create();
	struct lease_request req = { .lease_timeout_s = 60 };
	struct lease l;
	char *cause = NULL;
	int64_t sweep;
	uint64_t nt;
	size_t i;
	int j, added;

	ck_assert_int_eq(store_sweep_create(st, s, "f.json", &sweep, &nt, &cause), 0);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		for (j = 0; j < steps[i].lease; j++) {
			req.now = now_wall();
			ck_assert_int_eq(trial_lease(st, &req, &l, &cause), 1);
			lease_clear(&l);
		}
		ck_assert_int_eq(bayes_fill(st, bc, spec_by_arg, s, now_wall(), 60,
		    steps[i].every, &added, &cause), 0);
		ck_assert_msg(added == steps[i].added, "%s: added %d", steps[i].what, added);
	}
	bayes_cache_free(bc);
	spec_free(s);
}
END_TEST

/* A bayes sweep past its deadline proposes nothing more and finishes with what it has. */
START_TEST(test_bayes_deadline)
{
	static const struct {
		int	 trials;	/* finished before the deadline passes */
	} cases[] = { { 0 }, { 2 } };
	struct bayes_cache *bc;
	struct spec *s;
	char *text, *cause = NULL;
	int64_t sweep, trial;
	uint64_t nt;
	size_t i;
	int j, added;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		text = xasprintf("{\"name\": \"d%zu\", \"command\": \"true\", \"method\":"
		    " \"bayes\", \"max_trials\": 9, \"metric\": {\"name\": \"y\"},"
		    " \"deadline\": \"2001-01-01T00:00:00Z\", \"parameters\": {\"x\":"
		    " {\"distribution\": \"uniform\", \"min\": 0, \"max\": 1}}}", i);
		s = parse(text);
		free(text);
		bc = bayes_cache_create();
		ck_assert_int_eq(store_sweep_create(st, s, "d.json", &sweep, &nt, &cause), 0);
		for (j = 0; j < cases[i].trials; j++) {
			ck_assert_int_eq(bayes_propose(st, bc, s, sweep, &trial, &cause), 0);
			ck_assert_int_ne(trial, 0);
			ck_assert_int_eq(trial_cancel(st, trial, &cause), TRIAL_OK);
		}
		ck_assert_int_eq(bayes_fill(st, bc, spec_by_arg, s, now_wall(), 60, true,
		    &added, &cause), 0);
		ck_assert_int_eq(added, 0);
		ck_assert_int_eq(query_int("SELECT max_trials FROM sweeps WHERE id = ?", sweep),
		    cases[i].trials);
		ck_assert_msg(query_int("SELECT state = 'done' FROM sweeps WHERE id = ?", sweep)
		    == 1, "case %zu: the sweep did not finish", i);
		bayes_cache_free(bc);
		spec_free(s);
	}
}
END_TEST

int
main(void)
{
	const struct check_case pure[] = {
		{ "densities", test_densities_integrate_to_one },
		{ "log_space", test_log_space },
		{ "range", test_never_out_of_range },
		{ "proposals", test_proposals },
		{ "pruned", test_pruned_rank_last },
		{ "bandwidth", test_bandwidth },
		{ "improvement_weights", test_improvement_weights },
		{ "optuna_densities", test_optuna_densities },
	};
	const struct check_case on_store[] = {
		{ "bayes_exhausts", test_bayes_exhausts_space },
		{ "bayes_fill", test_bayes_fill },
		{ "bayes_deadline", test_bayes_deadline },
	};
	Suite *s = suite_create("tpe");

	check_add_cases(s, pure, CHECK_NELEM(pure), NULL, NULL, 60);
	check_add_cases(s, on_store, CHECK_NELEM(on_store), setup, teardown, 60);
	return check_run(s);
}
