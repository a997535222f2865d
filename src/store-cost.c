/* A sweep's cost from its attempts (cost.h). Each ended attempt carries its pool class, GPUs,
 * price and runtime, so its GPU-hours are runtime x GPUs / 3600 and its cost GPU-hours x
 * price, the same arithmetic trial.c uses to accumulate trials.cost_usd, so the two agree.
 * An interrupted (preempted or lost) attempt's work since its newest checkpoint was lost and
 * redone by a later attempt: that part, or the whole attempt when it checkpointed nothing, is
 * the compute lost to interruptions. One pass over the sweep's attempts through indexes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/cost.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/xmalloc.h"

static const char *const class_names[COST_CLASS_MAX] = { "spot", "on-demand", "none" };

const char *
cost_class_name(enum cost_class c)
{
	return c < COST_CLASS_MAX ? class_names[c] : "unknown";
}

static enum cost_class
class_of(const char *s)
{
	if (s == NULL)
		return COST_UNCLASSED;
	if (strcmp(s, "spot") == 0)
		return COST_SPOT;
	if (strcmp(s, "on-demand") == 0)
		return COST_ON_DEMAND;
	return COST_UNCLASSED;
}

int
store_sweep_cost(struct store *st, int64_t sweep_id, double on_demand_price,
    struct sweep_cost *out, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(out, 0, sizeof *out);
	out->sweep_id = sweep_id;
	stmt = store_stmt(st, "SELECT 1 FROM sweeps WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	if ((rc = store_step_row(st, stmt, "reading a sweep", cause)) <= 0) {
		if (rc == 0)
			*cause = xasprintf("no sweep %lld", (long long)sweep_id);
		return -1;
	}
	sqlite3_reset(stmt);
	stmt = store_stmt(st, "SELECT a.pool_class, a.gpus, coalesce(a.price_per_hour, 0),"
	    " coalesce(a.runtime_s, 0), a.outcome, a.started_at,"
	    " (SELECT max(c.at) FROM checkpoints c WHERE c.trial_id = a.trial_id"
	    "  AND c.attempt = a.attempt)"
	    " FROM trials t JOIN attempts a ON a.trial_id = t.id WHERE t.sweep_id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		enum cost_class cls = class_of((const char *)sqlite3_column_text(stmt, 0));
		double gpus = (double)sqlite3_column_int64(stmt, 1);
		double price = sqlite3_column_double(stmt, 2);
		double runtime = sqlite3_column_double(stmt, 3);
		const char *outcome = (const char *)sqlite3_column_text(stmt, 4);
		double started = sqlite3_column_double(stmt, 5), gpu_hours, lost;
		struct cost_bucket *b = &out->by_class[cls];

		if (outcome == NULL) {
			out->running_attempts++;
			continue;
		}
		if (!(runtime > 0))
			runtime = 0;
		gpu_hours = runtime * gpus / 3600.0;
		b->attempts++;
		b->runtime_s += runtime;
		b->gpu_hours += gpu_hours;
		b->cost += gpu_hours * price;
		if (strcmp(outcome, "preempted") != 0 && strcmp(outcome, "lost") != 0)
			continue;
		out->interrupted_attempts++;
		out->interrupted_gpu_hours += gpu_hours;
		lost = runtime;
		if (sqlite3_column_type(stmt, 6) != SQLITE_NULL) {
			double ckpt = sqlite3_column_double(stmt, 6);

			lost = started + runtime - ckpt;
			if (lost < 0)
				lost = 0;
			if (lost > runtime)
				lost = runtime;
		}
		out->redone_runtime_s += lost;
		out->redone_gpu_hours += lost * gpus / 3600.0;
		out->redone_cost += lost * gpus / 3600.0 * price;
	}
	if (rc != SQLITE_DONE) {
		store_error(st, "reading attempts", cause);
		sqlite3_reset(stmt);
		return -1;
	}
	sqlite3_reset(stmt);
	for (rc = 0; rc < COST_CLASS_MAX; rc++) {
		out->attempts += out->by_class[rc].attempts;
		out->total_runtime_s += out->by_class[rc].runtime_s;
		out->gpu_hours += out->by_class[rc].gpu_hours;
		out->cost += out->by_class[rc].cost;
	}
	if (on_demand_price >= 0) {
		out->has_on_demand_price = true;
		out->on_demand_price = on_demand_price;
		out->on_demand_cost = out->gpu_hours * on_demand_price;
		out->savings = out->on_demand_cost - out->cost;
		out->savings_fraction = out->on_demand_cost > 0 ?
		    out->savings / out->on_demand_cost : 0;
	}
	return 0;
}

int
store_on_demand_price(struct store *st, int64_t sweep_id, double *price, bool *found,
    const char **source, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	*found = false;
	*source = NULL;
	stmt = store_stmt(st, "SELECT min(price_per_hour) FROM pools"
	    " WHERE class = 'on-demand'", cause);
	if (stmt == NULL)
		return -1;
	if ((rc = store_step_row(st, stmt, "reading pools", cause)) < 0)
		return -1;
	if (rc == 1 && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
		*price = sqlite3_column_double(stmt, 0);
		*found = true;
		*source = "pools";
	}
	if (rc == 1)
		sqlite3_reset(stmt);
	if (*found)
		return 0;
	stmt = store_stmt(st, "SELECT max(a.price_per_hour) FROM trials t JOIN attempts a"
	    " ON a.trial_id = t.id WHERE t.sweep_id = ? AND a.pool_class = 'on-demand'", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	if ((rc = store_step_row(st, stmt, "reading attempts", cause)) < 0)
		return -1;
	if (rc == 1 && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
		*price = sqlite3_column_double(stmt, 0);
		*found = true;
		*source = "attempts";
	}
	if (rc == 1)
		sqlite3_reset(stmt);
	return 0;
}

/* A number, or null for what JSON cannot hold (a NaN or an infinity). */
static json_t *
cost_num(double d)
{
	return isfinite(d) ? json_real(d) : json_null();
}

static json_t *
bucket_json(const struct cost_bucket *b)
{
	return json_pack("{s:I,s:o,s:o,s:o}", "attempts", (json_int_t)b->attempts,
	    "runtime_s", cost_num(b->runtime_s), "gpu_hours", cost_num(b->gpu_hours),
	    "cost_usd", cost_num(b->cost));
}

json_t *
sweep_cost_json(const struct sweep_cost *c, const char *source)
{
	json_t *classes = json_object(), *od = json_null();
	int i;

	for (i = 0; i < COST_CLASS_MAX; i++)
		json_object_set_new(classes, cost_class_name((enum cost_class)i),
		    bucket_json(&c->by_class[i]));
	if (c->has_on_demand_price)
		od = json_pack("{s:o,s:s?,s:o,s:o,s:o}", "price_per_hour",
		    cost_num(c->on_demand_price), "source", source,
		    "cost_usd", cost_num(c->on_demand_cost), "savings_usd", cost_num(c->savings),
		    "savings_pct", cost_num(c->savings_fraction * 100));
	return json_pack("{s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:{s:I,s:o,s:o,s:o,s:o}}",
	    "sweep_id", (json_int_t)c->sweep_id,
	    "attempts", (json_int_t)c->attempts,
	    "running_attempts", (json_int_t)c->running_attempts,
	    "runtime_s", cost_num(c->total_runtime_s),
	    "gpu_hours", cost_num(c->gpu_hours),
	    "cost_usd", cost_num(c->cost),
	    "by_class", classes,
	    "on_demand", od,
	    "interrupted",
	    "attempts", (json_int_t)c->interrupted_attempts,
	    "gpu_hours", cost_num(c->interrupted_gpu_hours),
	    "lost_runtime_s", cost_num(c->redone_runtime_s),
	    "lost_gpu_hours", cost_num(c->redone_gpu_hours),
	    "lost_cost_usd", cost_num(c->redone_cost));
}
