/* The scheduler's side of searching and stopping: proposing bayes trials when a worker
 * asks for work (bayes.c), and judging trials by their sweep's early_terminate as their
 * metric points arrive (early-stop.c). Both run inside the request's write, so what they
 * change commits with the lease or report that caused it; a failure here is logged and
 * never fails the lease or the report. The tick keeps one proposal ready in every bayes
 * sweep with room, so that the dispatchers that start workers only for pending work (ssh
 * hosts, Slurm jobs, scale hooks) see some; an agent asking for work meanwhile gets that
 * one, and the next is proposed when it asks again. */
#include <math.h>
#include <stdlib.h>

#include "spotsweep/bayes.h"
#include "spotsweep/early-stop.h"
#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/util.h"

static const struct spec *
spec_of(void *arg, int64_t sweep_id, char **cause)
{
	return server_sweep_spec(arg, sweep_id, cause);
}

static void
fill(struct server *srv, double now, bool every)
{
	char *cause = NULL;
	int added;

	if (srv->bayes == NULL)
		srv->bayes = bayes_cache_create();
	/* workers seen within a few heartbeats count towards a sweep's default parallelism */
	if (bayes_fill(srv->st, srv->bayes, spec_of, srv, now,
	    fmax(3 * srv->lease_timeout_s, 60), every, &added, &cause) != 0) {
		log_error("bayes: %s", cause);
		free(cause);
	}
}

void
server_search_lease(struct server *srv, double now)
{
	fill(srv, now, false);
}

void
server_search_tick(struct server *srv, double now)
{
	fill(srv, now, true);
}

/* The sweep a trial belongs to; 0 when there is no such trial. */
static int64_t
trial_sweep(struct server *srv, int64_t trial_id)
{
	sqlite3_stmt *stmt;
	char *cause = NULL;
	int64_t id = 0;

	stmt = store_stmt(srv->st, "SELECT sweep_id FROM trials WHERE id = ?", &cause);
	if (stmt == NULL) {
		log_error("%s", cause);
		free(cause);
		return 0;
	}
	sqlite3_bind_int64(stmt, 1, trial_id);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		id = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return id;
}

bool
server_search_report(struct server *srv, int64_t trial_id, int64_t sweep_id, bool finished)
{
	const struct spec *s;
	char *cause = NULL;
	bool pruned = false;
	int promoted = 0;

	if (sweep_id == 0 && (sweep_id = trial_sweep(srv, trial_id)) == 0)
		return false;
	if ((s = server_sweep_spec(srv, sweep_id, &cause)) == NULL) {
		log_error("sweep %lld: %s", (long long)sweep_id, cause);
		free(cause);
		return false;
	}
	if (s->early_stop == EARLY_NONE)
		return false;
	if (early_stop_check(srv->st, s, trial_id, now_wall(), &pruned, &cause) != 0) {
		log_error("early stopping, trial %lld: %s", (long long)trial_id, cause);
		free(cause);
		return false;
	}
	if (pruned)
		log_info("trial %lld pruned by the sweep's early_terminate", (long long)trial_id);
	/* a stopped trial's attempt closing can make it promotable */
	if (finished && early_stop_promote(srv->st, s, sweep_id, &promoted, &cause) != 0) {
		log_error("early stopping, sweep %lld: %s", (long long)sweep_id, cause);
		free(cause);
	} else if (promoted > 0)
		log_info("sweep %lld: %d pruned trial%s promoted to resume", (long long)sweep_id,
		    promoted, promoted == 1 ? "" : "s");
	return pruned;
}

void
server_search_free(struct server *srv)
{
	bayes_cache_free(srv->bayes);
	srv->bayes = NULL;
}
