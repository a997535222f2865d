/* The scheduler's pools at run time (server-pools.c): each pool's current price (PUT
 * /v1/pools/NAME/price, the pool's price_command), the switching rules' decision per pool
 * (changes logged and recorded as events), the lease filter that makes leasing obey the
 * rules, and the scaling hooks (scale_command POOL WANTED when a pool's wanted size changes).
 * Not for use outside server-*.c. */
#ifndef SPOTSWEEP_SERVER_POOLS_H
#define SPOTSWEEP_SERVER_POOLS_H

#include "spotsweep/config.h"
#include "spotsweep/rules.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/trial.h"

struct server_pools;

/* Sets up srv->pools: records the config's pools in the store (keeping a price set earlier
 * while the configured price is unchanged) and loads their current prices. -1 with cause. */
int server_pools_create(struct server *srv, char **cause);
/* Stops what is still running (scale and price commands get SIGTERM) and frees. */
void server_pools_free(struct server *srv);
/* Housekeeping for the tick: rule decisions, price commands, wanted sizes and scaling
 * hooks, reaping and timing out their children. Cheap when nothing is due. */
void server_pools_tick(struct server *srv);
/* Completes a lease request for a worker of pool p (NULL: a worker without a pool): the
 * pool's current price, and, when there are rules, the filter that lets the worker take only
 * the trials the rules allow its class now. The filter lives until the next call. */
void server_pools_lease(struct server *srv, const struct pool *p, struct lease_request *lr);

/* The demand on pool p now, for a dispatcher that starts its own workers (server-slurm.c):
 * *running, its open attempts, and *wanted, those plus the pending trials the rules let its
 * class take, capped like the wanted size of the scaling hooks. -1 with cause. */
int server_pools_demand(struct server *srv, const struct pool *p, long *running,
    long *wanted, char **cause);

/* GET /v1/pools and PUT /v1/pools/NAME/price. */
route_handler api_pools, api_pool_price;

/* One pool as GET /v1/pools shows it (for GET /metrics). With no pools configured but
 * rules, the workers without a pool: name "(no pool)", cls POOL_CLASS_MAX, price 0. */
struct server_pool_view {
	const char		*name;
	enum pool_class		 cls;
	double			 price;
	struct rule_decision	 decision;	/* any, "(none)", -1 before the first */
	long			 wanted;	/* -1 until first computed */
	long			 running;
};
/* The i-th pool; false past the last. */
bool server_pools_view(const struct server *srv, size_t i, struct server_pool_view *out);

#endif
