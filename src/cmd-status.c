/* `spotsweep status [SWEEP] [--json] [--watch [--interval S]]`: counts by state, progress,
 * the best trial so far, spend and an ETA from the recent completion rate.
 *
 * Three faces. --json prints the contract's summary object (an array without SWEEP). On a
 * terminal: a labelled block for one sweep, a table for all; with --watch a live view
 * redrawn every interval on the terminal's alternate screen (q or Ctrl-C quits and gives the
 * terminal back as it was; Ctrl-Z suspends; a resize redraws). When stdout is not a
 * terminal: one logfmt line per sweep, and with --watch a block of those lines per interval
 * followed by an empty line, never an escape code. Colour only on a terminal without
 * NO_COLOR. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "spotsweep/cmd.h"
#include "spotsweep/log.h"
#include "spotsweep/status-view.h"
#include "spotsweep/store.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#define BOLD	"\033[1m"
#define DIM	"\033[2m"
#define RESET	"\033[0m"

/* A sweep's summary and what status adds to it. */
struct sweep_view {
	struct sweep_summary	 s;
	int64_t			 planned;	/* trials the sweep will have: max_trials of an
						 * active bayes sweep, else its trials */
	int64_t			 finished;
	double			 spend_usd;	/* the trials' cost so far (ended attempts) */
	int64_t			 recent_done;	/* trials ended in the rate window */
	double			 window_s;	/* the rate window: at most STATUS_RATE_WINDOW_S,
						 * from the sweep's first start */
	double			 eta_s;		/* status_eta */
};

static int64_t
finished(const struct sweep_summary *s)
{
	return s->by_state[TRIAL_SUCCEEDED] + s->by_state[TRIAL_PRUNED] +
	    s->by_state[TRIAL_ABANDONED] + s->by_state[TRIAL_CANCELLED];
}

static void
views_free(struct sweep_view *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sweep_summary_clear(&v[i].s);
	free(v);
}

/* Fills v (its summary already read) with spend, the recent completions and the ETA. */
static int
view_extra(struct store *st, struct sweep_view *v, double now, char **cause)
{
	sqlite3_stmt *stmt;
	int64_t max_trials = 0;
	double first, since;
	int rc;

	stmt = store_stmt(st, "SELECT max_trials FROM sweeps WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, v->s.id);
	if ((rc = store_step_row(st, stmt, "reading a sweep", cause)) < 0)
		return -1;
	if (rc == 1) {
		max_trials = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	/* Ended by running (not cancelled unstarted): those measure the sweep's pace. */
	stmt = store_stmt(st, "SELECT total(cost_usd), total(state IN ('succeeded', 'pruned',"
	    " 'abandoned') AND finished_at >= ?2), min(started_at) FROM trials"
	    " WHERE sweep_id = ?1", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, v->s.id);
	since = now - STATUS_RATE_WINDOW_S;
	sqlite3_bind_double(stmt, 2, since);
	if ((rc = store_step_row(st, stmt, "reading a sweep's trials", cause)) < 0)
		return -1;
	if (rc == 1) {
		v->spend_usd = sqlite3_column_double(stmt, 0);
		v->recent_done = (int64_t)sqlite3_column_double(stmt, 1);
		if (sqlite3_column_type(stmt, 2) != SQLITE_NULL) {
			first = sqlite3_column_double(stmt, 2);
			v->window_s = now - (first > since ? first : since);
		}
		sqlite3_reset(stmt);
	}
	v->finished = finished(&v->s);
	v->planned = v->s.trials;
	if (strcmp(v->s.state, "active") == 0 && max_trials > v->planned &&
	    (strcmp(v->s.method, "bayes") == 0 || strcmp(v->s.method, "tpe") == 0))
		v->planned = max_trials;
	v->eta_s = status_eta(v->planned - v->finished, v->recent_done, v->window_s);
	return 0;
}

/* The views of sweep id, or of every sweep (id 0) oldest first. */
static int
views_load(struct store *st, int64_t id, struct sweep_view **out, size_t *nout, char **cause)
{
	struct sweep_view *v = NULL;
	int64_t *ids = NULL, one = id;
	size_t n = 0, i, done = 0;
	double now = now_wall();

	if (id == 0) {
		if (store_sweep_ids(st, &ids, &n, cause) != 0)
			return -1;
	} else {
		ids = &one;
		n = 1;
	}
	v = xcalloc(n + 1, sizeof *v);
	for (i = 0; i < n; i++) {
		if (store_sweep_summary(st, ids[i], &v[i].s, cause) != 0)
			goto fail;
		done = i + 1;
		if (view_extra(st, &v[i], now, cause) != 0)
			goto fail;
	}
	if (ids != &one)
		free(ids);
	*out = v;
	*nout = n;
	return 0;
fail:
	if (ids != &one)
		free(ids);
	views_free(v, done);
	return -1;
}

/* ---- not a terminal: logfmt lines ---- */

static void
add_kv_double(struct buf *b, const char *key, double d)
{
	char num[32];

	format_double(num, d);
	buf_printf(b, " %s=%s", key, num);
}

/* One line: sweep name method state trials <states> planned progress best_trial best_value
 * objective goal spend_usd rate_per_min eta_s [pruned_at gpu_hours_saved]. */
static void
add_line(struct buf *b, const struct sweep_view *v)
{
	const struct sweep_summary *s = &v->s;
	size_t i;
	int j;

	buf_printf(b, "sweep=%lld name=", (long long)s->id);
	status_add_kv_value(b, s->name != NULL ? s->name : "");
	buf_adds(b, " method=");
	status_add_kv_value(b, s->method);
	buf_adds(b, " state=");
	status_add_kv_value(b, s->state);
	buf_printf(b, " trials=%lld", (long long)s->trials);
	for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++)
		buf_printf(b, " %s=%lld", trial_state_name((enum trial_state)j),
		    (long long)s->by_state[j]);
	buf_printf(b, " planned=%lld progress=%.4f", (long long)v->planned, v->planned > 0 ?
	    (double)v->finished / (double)v->planned : 0.0);
	if (s->has_best) {
		buf_printf(b, " best_trial=%lld", (long long)s->best_trial);
		add_kv_double(b, "best_value", s->best_value);
	} else
		buf_adds(b, " best_trial= best_value=");
	buf_adds(b, " objective=");
	if (s->objective != NULL)
		status_add_kv_value(b, s->objective);
	buf_printf(b, " goal=%s", s->minimize ? "minimize" : "maximize");
	add_kv_double(b, "spend_usd", v->spend_usd);
	if (v->window_s > 0)
		buf_printf(b, " rate_per_min=%.3f", (double)v->recent_done * 60 / v->window_s);
	else
		buf_adds(b, " rate_per_min=");
	if (v->eta_s >= 0)
		buf_printf(b, " eta_s=%.0f", v->eta_s);
	else
		buf_adds(b, " eta_s=");
	if (s->by_state[TRIAL_PRUNED] > 0) {
		buf_adds(b, " pruned_at=");
		for (i = 0; i < s->early_nsteps; i++)
			buf_printf(b, "%s%lld:%lld", i > 0 ? "," : "", (long long)s->early_step[i],
			    (long long)s->early_count[i]);
		add_kv_double(b, "gpu_hours_saved", s->early_gpu_hours_saved);
	}
	buf_addc(b, '\n');
}

/* ---- a terminal: the block and the table ---- */

static void
add_eta(struct buf *b, const struct sweep_view *v)
{
	if (v->planned - v->finished <= 0) {
		buf_adds(b, "done");
		return;
	}
	if (v->eta_s < 0) {
		buf_adds(b, "unknown (no trial ended in the last ");
		status_add_duration(b, STATUS_RATE_WINDOW_S);
		buf_addc(b, ')');
		return;
	}
	status_add_duration(b, v->eta_s);
	buf_printf(b, " (%.1f trials/min over the last ", (double)v->recent_done * 60 /
	    v->window_s);
	status_add_duration(b, v->window_s);
	buf_addc(b, ')');
}

/* Where pruned trials stopped, and what stopping them saved. */
static void
print_early(struct buf *b, const struct sweep_summary *s)
{
	size_t i;

	buf_adds(b, "pruned at ");
	for (i = 0; i < s->early_nsteps; i++)
		buf_printf(b, "%s step %lld: %lld", i > 0 ? "," : "",
		    (long long)s->early_step[i], (long long)s->early_count[i]);
	if (s->early_nsteps == sizeof s->early_step / sizeof s->early_step[0])
		buf_adds(b, ", ...");
	buf_printf(b, "\nsaved      %.3f GPU-hours by early stopping (pruned trials run to "
	    "step %lld)\n", s->early_gpu_hours_saved, (long long)s->early_horizon);
}

static void
print_one(const struct sweep_view *v, bool colour)
{
	const struct sweep_summary *s = &v->s;
	struct buf b = { 0 };
	char num[32];
	int i;

	buf_printf(&b, "sweep      %lld ", (long long)s->id);
	buf_add_printable(&b, s->name);
	buf_printf(&b, "\nmethod     %s\nstate      %s\n", s->method, s->state);
	buf_printf(&b, "trials     %lld", (long long)s->trials);
	if (s->trials > 0)
		buf_printf(&b, " (%lld finished, %.0f%%)", (long long)finished(s),
		    100.0 * (double)finished(s) / (double)s->trials);
	buf_addc(&b, '\n');
	for (i = TRIAL_PENDING; i < TRIAL_STATE_MAX; i++) {
		if (colour && s->by_state[i] > 0)
			buf_printf(&b, "%s%-10s" RESET " %lld\n",
			    status_state_colour((enum trial_state)i),
			    trial_state_name((enum trial_state)i), (long long)s->by_state[i]);
		else
			buf_printf(&b, "%-10s %lld\n", trial_state_name((enum trial_state)i),
			    (long long)s->by_state[i]);
	}
	if (s->by_state[TRIAL_PRUNED] > 0)
		print_early(&b, s);
	buf_adds(&b, "best       ");
	if (s->has_best) {
		format_double(num, s->best_value);
		buf_printf(&b, "trial %lld: ", (long long)s->best_trial);
		buf_add_printable(&b, s->objective != NULL ? s->objective : "value");
		buf_printf(&b, " = %s (%s) ", num, s->minimize ? "minimize" : "maximize");
		buf_add_printable(&b, s->best_params != NULL ? s->best_params : "{}");
	} else
		buf_adds(&b, "none yet");
	buf_adds(&b, "\nprogress   ");
	status_add_bar(&b, s->by_state, v->planned, 40, colour);
	buf_printf(&b, " %.0f%% of %lld\n", v->planned > 0 ? 100.0 * (double)v->finished /
	    (double)v->planned : 0.0, (long long)v->planned);
	buf_printf(&b, "spend      $%.2f\neta        ", v->spend_usd);
	add_eta(&b, v);
	buf_addc(&b, '\n');
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

static void
print_table(const struct sweep_view *v, size_t n)
{
	struct buf b = { 0 }, name = { 0 };
	size_t i, width = 4;
	char best[64], num[32];
	int j;

	for (i = 0; i < n; i++) {
		buf_reset(&name);
		buf_add_printable(&name, v[i].s.name);
		if (name.len > width)
			width = name.len;
	}
	buf_printf(&b, "%-5s %-*s %-7s %-9s %7s", "ID", (int)width, "NAME", "METHOD", "STATE",
	    "TRIALS");
	for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++) {
		char upper[16];
		size_t k;

		snprintf(upper, sizeof upper, "%s", trial_state_name((enum trial_state)j));
		for (k = 0; upper[k] != '\0'; k++)
			upper[k] = (char)(upper[k] - 'a' + 'A');
		buf_printf(&b, " %9s", upper);
	}
	buf_printf(&b, " %9s %-8s  BEST\n", "SPEND", "ETA");
	for (i = 0; i < n; i++) {
		const struct sweep_summary *s = &v[i].s;
		struct buf eta = { 0 };

		buf_reset(&name);
		buf_add_printable(&name, s->name);
		buf_printf(&b, "%-5lld %-*s %-7s %-9s %7lld", (long long)s->id, (int)width,
		    name.data, s->method, s->state, (long long)s->trials);
		for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++)
			buf_printf(&b, " %9lld", (long long)s->by_state[j]);
		if (v[i].planned - v[i].finished <= 0)
			buf_adds(&eta, "done");
		else if (v[i].eta_s < 0)
			buf_adds(&eta, "-");
		else
			status_add_duration(&eta, v[i].eta_s);
		if (s->has_best) {
			format_double(num, s->best_value);
			snprintf(best, sizeof best, "%s (trial %lld)", num,
			    (long long)s->best_trial);
		} else
			snprintf(best, sizeof best, "-");
		buf_printf(&b, " %9.2f %-8s  %s\n", v[i].spend_usd, eta.data, best);
		buf_free(&eta);
	}
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
	buf_free(&name);
}

/* ---- --watch ---- */

static volatile sig_atomic_t got_quit, got_winch, got_tstp;

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		got_winch = 1;
	else if (sig == SIGTSTP)
		got_tstp = 1;
	else
		got_quit = sig;
}

struct watch {
	struct store	*st;
	int64_t		 id;		/* 0: every sweep */
	double		 interval;
	bool		 tty;
	bool		 colour;
	bool		 raw;		/* stdin's terminal is in raw mode: saved holds it */
	struct termios	 saved;
	int		 cols, rows;
};

static void
term_size(struct watch *w)
{
	struct winsize ws;
	long v;
	const char *e;

	w->cols = 80;
	w->rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		w->cols = ws.ws_col;
		w->rows = ws.ws_row;
		return;
	}
	if ((e = getenv("COLUMNS")) != NULL && safe_strtol(e, &v) && v > 0 && v < 10000)
		w->cols = (int)v;
	if ((e = getenv("LINES")) != NULL && safe_strtol(e, &v) && v > 0 && v < 10000)
		w->rows = (int)v;
}

/* Keys without Enter and no echo, the alternate screen, no cursor. */
static void
term_enter(struct watch *w)
{
	struct termios raw;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &w->saved) == 0) {
		raw = w->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		w->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
	fflush(stdout);
}

/* Gives the terminal back as term_enter found it. */
static void
term_leave(struct watch *w)
{
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (w->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &w->saved);
	w->raw = false;
}

/* Active sweeps first (oldest first), then the others (newest first): what fits on the
 * screen is what is moving. */
static int
view_order(const void *a, const void *b)
{
	const struct sweep_view *x = a, *y = b;
	bool xa = strcmp(x->s.state, "active") == 0, ya = strcmp(y->s.state, "active") == 0;

	if (xa != ya)
		return xa ? -1 : 1;
	if (xa)
		return x->s.id < y->s.id ? -1 : x->s.id > y->s.id;
	return x->s.id > y->s.id ? -1 : x->s.id < y->s.id;
}

/* One line of the frame: the text, the rest of the row cleared. */
static void
end_line(struct buf *f, int *nlines)
{
	buf_adds(f, "\033[K\n");
	(*nlines)++;
}

/* Appends sweep v's lines (4) to frame f. */
static void
frame_sweep(struct buf *f, const struct watch *w, const struct sweep_view *v, int *nlines)
{
	const struct sweep_summary *s = &v->s;
	struct buf name = { 0 }, tail = { 0 };
	const char *state_colour = "";
	char num[32];
	int bar, j;
	size_t used;

	buf_add_printable(&name, s->name);
	if (strcmp(s->state, "done") == 0)
		state_colour = status_state_colour(TRIAL_SUCCEEDED);
	else if (strcmp(s->state, "cancelled") == 0)
		state_colour = status_state_colour(TRIAL_CANCELLED);
	else
		state_colour = status_state_colour(TRIAL_RUNNING);
	buf_printf(&tail, " (%s, ", s->method);
	used = (size_t)snprintf(num, sizeof num, "%lld ", (long long)s->id);
	buf_printf(f, "%s%s", w->colour ? BOLD : "", num);
	status_add_clipped(f, name.data, (size_t)w->cols > used + tail.len + 12 ?
	    (size_t)w->cols - used - tail.len - 12 : 8);
	buf_printf(f, "%s%s%s%s%s)", w->colour ? RESET : "", tail.data,
	    w->colour ? state_colour : "", s->state, w->colour ? RESET : "");
	end_line(f, nlines);

	buf_reset(&tail);
	buf_printf(&tail, " %3.0f%%  %lld/%lld  ", v->planned > 0 ? 100.0 *
	    (double)v->finished / (double)v->planned : 0.0, (long long)v->finished,
	    (long long)v->planned);
	if (v->planned - v->finished <= 0)
		buf_adds(&tail, "done");
	else if (v->eta_s < 0)
		buf_adds(&tail, "ETA ?");
	else {
		buf_adds(&tail, "ETA ");
		status_add_duration(&tail, v->eta_s);
		buf_printf(&tail, "  %.1f/min", (double)v->recent_done * 60 / v->window_s);
	}
	bar = w->cols - 2 - 2 - (int)tail.len - 1;
	if (bar > 60)
		bar = 60;
	if (bar < 10)
		bar = 10;
	buf_adds(f, "  ");
	status_add_bar(f, s->by_state, v->planned, bar, w->colour);
	buf_adds(f, tail.data);
	end_line(f, nlines);

	for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++) {
		const char *c = w->colour && s->by_state[j] > 0 ?
		    status_state_colour((enum trial_state)j) : (w->colour ? DIM : "");

		buf_printf(f, "  %s%s %lld%s", c, trial_state_name((enum trial_state)j),
		    (long long)s->by_state[j], w->colour ? RESET : "");
	}
	end_line(f, nlines);

	buf_adds(f, "  best ");
	if (s->has_best) {
		format_double(num, s->best_value);
		buf_printf(f, "%s%s%s (trial %lld)", w->colour ? BOLD : "", num,
		    w->colour ? RESET : "", (long long)s->best_trial);
	} else
		buf_adds(f, "-");
	buf_printf(f, "  spend $%.2f", v->spend_usd);
	end_line(f, nlines);
	buf_free(&name);
	buf_free(&tail);
}

/* The whole screen: a header, then as many sweeps as fit. */
static void
frame(struct buf *f, const struct watch *w, struct sweep_view *v, size_t n)
{
	char when[64];
	time_t t = time(NULL);
	struct tm tm;
	int nlines = 0, room = w->rows - 1;
	size_t i;

	qsort(v, n, sizeof *v, view_order);
	localtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	buf_adds(f, "\033[H");
	buf_printf(f, "%sspotsweep status%s  %zu sweep%s  every %gs  %s  (q quits)",
	    w->colour ? BOLD : "", w->colour ? RESET : "", n, n == 1 ? "" : "s", w->interval,
	    when);
	end_line(f, &nlines);
	for (i = 0; i < n; i++) {
		if (nlines + 5 > room) {
			buf_printf(f, "... %zu more sweep%s (make the window taller)", n - i,
			    n - i == 1 ? "" : "s");
			end_line(f, &nlines);
			break;
		}
		end_line(f, &nlines);
		frame_sweep(f, w, &v[i], &nlines);
	}
	if (n == 0) {
		end_line(f, &nlines);
		buf_adds(f, "no sweeps yet (submit one with: spotsweep submit SPEC.json)");
		end_line(f, &nlines);
	}
	buf_adds(f, "\033[J");
}

/* Draws once: the frame on a terminal, else a block of lines and an empty line. */
static int
draw(struct watch *w)
{
	struct sweep_view *v = NULL;
	struct buf b = { 0 };
	char *cause = NULL;
	size_t n = 0, i;

	if (views_load(w->st, w->id, &v, &n, &cause) != 0) {
		if (w->tty)
			term_leave(w);
		errorx("%s", cause);
		free(cause);
		return -1;
	}
	if (w->tty) {
		term_size(w);
		frame(&b, w, v, n);
	} else {
		for (i = 0; i < n; i++)
			add_line(&b, &v[i]);
		buf_addc(&b, '\n');
	}
	views_free(v, n);
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
	if (fflush(stdout) != 0)
		return -1;
	return 0;
}

/* Waits for the next draw: the interval, a key (q quits, any other redraws now), a resize
 * or a signal. The signals stay blocked except inside ppoll, so none slips in unseen. */
static void
wait_next(struct watch *w, const sigset_t *during)
{
	double deadline = now_mono() + w->interval, left;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	struct timespec ts;
	char c;

	while (!got_quit && !got_winch && !got_tstp && (left = deadline - now_mono()) > 0) {
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		if (ppoll(&pfd, w->raw ? 1 : 0, &ts, during) <= 0)
			continue;
		if (read(STDIN_FILENO, &c, 1) != 1)
			continue;
		if (c == 'q' || c == 'Q')
			got_quit = SIGINT;
		return;
	}
}

/* Ctrl-Z: the terminal back to the shell while stopped, the view again on SIGCONT. */
static void
suspend(struct watch *w, const sigset_t *block, const sigset_t *during)
{
	struct sigaction dfl, old;

	term_leave(w);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGTSTP, &dfl, &old);
	sigprocmask(SIG_SETMASK, during, NULL);
	raise(SIGTSTP);		/* stopped here until SIGCONT */
	sigprocmask(SIG_BLOCK, block, NULL);
	sigaction(SIGTSTP, &old, NULL);
	got_tstp = 0;
	term_enter(w);
}

static int
watch(struct watch *w)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP };
	struct sigaction sa, old[sizeof sigs / sizeof sigs[0]];
	sigset_t block, during;
	size_t i;
	int rc = EXIT_OK;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		/* SIGTSTP and SIGWINCH matter only to the live view. */
		if (!w->tty && (sigs[i] == SIGTSTP || sigs[i] == SIGWINCH)) {
			sigaction(sigs[i], NULL, &old[i]);
			continue;
		}
		sigaction(sigs[i], &sa, &old[i]);
		sigaddset(&block, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &during);
	if (w->tty)
		term_enter(w);
	while (!got_quit) {
		if (got_tstp)
			suspend(w, &block, &during);
		got_winch = 0;
		if (draw(w) != 0) {
			rc = EXIT_RUNTIME;
			break;
		}
		wait_next(w, &during);
	}
	if (w->tty && rc == EXIT_OK)
		term_leave(w);
	sigprocmask(SIG_SETMASK, &during, NULL);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &old[i], NULL);
	return rc;
}

/* ---- the command ---- */

static int
print_json(struct store *st, int64_t id)
{
	struct sweep_summary *sums = NULL, one;
	struct buf b = { 0 };
	int64_t *ids = NULL;
	size_t n = 0, i, done = 0;
	char *cause = NULL;
	int rc = EXIT_RUNTIME;

	if (id != 0) {
		if (store_sweep_summary(st, id, &one, &cause) != 0)
			goto fail;
		sweep_summary_json(&one, &b);
		sweep_summary_clear(&one);
		buf_addc(&b, '\n');
	} else {
		if (store_sweep_ids(st, &ids, &n, &cause) != 0)
			goto fail;
		sums = xcalloc(n + 1, sizeof *sums);
		for (done = 0; done < n; done++) {
			if (store_sweep_summary(st, ids[done], &sums[done], &cause) != 0)
				goto fail;
		}
		buf_addc(&b, '[');
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_addc(&b, ',');
			sweep_summary_json(&sums[i], &b);
		}
		buf_adds(&b, "]\n");
	}
	fwrite(b.data, 1, b.len, stdout);
	rc = EXIT_OK;
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	for (i = 0; i < done; i++)
		sweep_summary_clear(&sums[i]);
	free(sums);
	free(ids);
	buf_free(&b);
	return rc;
}

static int
print_once(struct store *st, int64_t id, bool tty, bool colour)
{
	struct sweep_view *v = NULL;
	struct buf b = { 0 };
	char *cause = NULL;
	size_t n = 0, i;

	if (views_load(st, id, &v, &n, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return EXIT_RUNTIME;
	}
	if (!tty) {
		for (i = 0; i < n; i++)
			add_line(&b, &v[i]);
		fwrite(b.data != NULL ? b.data : "", 1, b.len, stdout);
		buf_free(&b);
	} else if (id != 0)
		print_one(&v[0], colour);
	else if (n == 0)
		printf("no sweeps yet (submit one with: spotsweep submit SPEC.json)\n");
	else
		print_table(v, n);
	views_free(v, n);
	return EXIT_OK;
}

static int
cmd_status_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *interval_opt = cmd_opt(self, args, "interval");
	bool as_json = cmd_flag(self, args, "json"), watching = cmd_flag(self, args, "watch");
	bool tty = isatty(STDOUT_FILENO);
	struct watch w;
	struct store *st;
	double interval = 2;
	long long id = 0;
	int rc;

	if (args->argc == 1 && !cmd_parse_id(args->argv[0], &id))
		return EXIT_USAGE;
	if (interval_opt != NULL && (!safe_strtod(interval_opt, &interval) ||
	    !(interval >= 0.1) || interval > 86400)) {
		errorx("--interval: expected seconds between 0.1 and 86400 (got %s)", interval_opt);
		return EXIT_USAGE;
	}
	if (interval_opt != NULL && !watching) {
		errorx("--interval needs --watch");
		return EXIT_USAGE;
	}
	if (watching && as_json) {
		errorx("--watch and --json cannot be combined");
		return EXIT_USAGE;
	}
	if ((st = cmd_open_existing_store(args)) == NULL)
		return EXIT_RUNTIME;
	if (as_json)
		rc = print_json(st, id);
	else if (watching) {
		memset(&w, 0, sizeof w);
		w.st = st;
		w.id = id;
		w.interval = interval;
		w.tty = tty;
		w.colour = status_use_colour(tty, getenv("NO_COLOR"), getenv("TERM"));
		rc = watch(&w);
	} else
		rc = print_once(st, id, tty, status_use_colour(tty, getenv("NO_COLOR"),
		    getenv("TERM")));
	store_close(st);
	return rc;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "[SWEEP] [--json] [--watch [--interval SECONDS]]",
	.help = "Shows a sweep's trials by state, its progress, the best trial so far, what it\n"
	    "has cost and when it should end (ETA: the trials left at the pace of the last 10\n"
	    "minutes); without SWEEP, every sweep. The best trial is the succeeded trial with the\n"
	    "best last value of the objective, by the spec's goal. Once early stopping pruned\n"
	    "trials: the steps where they stopped and the GPU-hours saved.\n"
	    "On a terminal: a block for one sweep, a table for all. Otherwise one line per sweep\n"
	    "of key=value pairs (logfmt): sweep name method state trials pending running\n"
	    "succeeded pruned abandoned cancelled planned progress best_trial best_value\n"
	    "objective goal spend_usd rate_per_min eta_s, then pruned_at and gpu_hours_saved once\n"
	    "trials were pruned; an unknown value is empty.\n"
	    "--watch redraws every --interval seconds (2): on a terminal a live view (q or\n"
	    "Ctrl-C quits), otherwise a block of those lines and an empty line each time.\n"
	    "Colour only on a terminal, and never when NO_COLOR is set.\n"
	    "--json prints {\"sweep_id\", \"name\", \"trials\", \"pending\", \"running\",\n"
	    "\"succeeded\", \"pruned\", \"abandoned\", \"cancelled\", \"best\": {\"trial_id\",\n"
	    "\"value\"} or null} (an array without SWEEP), with \"early_stopping\": {\"horizon\",\n"
	    "\"gpu_hours_saved\", \"pruned_at\": [{\"step\", \"trials\"}]} once trials were pruned.",
	.opts = {
		{ "json", 0, false },
		{ "watch", 'w', false },
		{ "interval", 'n', true },
		{ NULL, 0, false }
	},
	.min_args = 0,
	.max_args = 1,
	.exec = cmd_status_exec,
};
