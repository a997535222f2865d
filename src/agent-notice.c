/* Termination-notice parsing for the agent (see agent-notice.h). Providers answer their
 * metadata endpoints differently: AWS returns 404 until a notice exists and then a JSON
 * action, GCP answers 200 "FALSE" until it says "TRUE", Azure always answers a JSON list of
 * scheduled events. A body this module does not understand still counts as a notice: the
 * contract is "200 with a body", and stopping early is cheaper than losing work. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "spotsweep/agent-notice.h"
#include "spotsweep/util.h"

/* Azure's NotBefore: "Mon, 19 Sep 2016 18:29:47 GMT". */
static bool
parse_rfc1123(const char *s, double *out)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return false;
	*out = (double)timegm(&tm);
	return true;
}

static bool
parse_azure(json_t *events, double *deadline)
{
	const char	*type, *nb;
	json_t		*ev;
	size_t		 i;
	double		 d;
	bool		 notice = false;

	json_array_foreach(events, i, ev) {
		type = json_string_value(json_object_get(ev, "EventType"));
		if (type == NULL || (strcmp(type, "Preempt") != 0 &&
		    strcmp(type, "Terminate") != 0))
			continue;
		notice = true;
		nb = json_string_value(json_object_get(ev, "NotBefore"));
		if (nb != NULL && parse_rfc1123(nb, &d) && (*deadline == 0 || d < *deadline))
			*deadline = d;
	}
	return notice;
}

/* Whether a 200 body announces a termination; *deadline set when it names a time. */
bool
agent_notice_parse(const char *body, size_t len, double *deadline)
{
	json_error_t	 err;
	json_t		*o, *v;
	size_t		 start = 0, end = len;
	bool		 notice = true;
	double		 d;

	*deadline = 0;
	while (start < end && isspace((unsigned char)body[start]))
		start++;
	while (end > start && isspace((unsigned char)body[end - 1]))
		end--;
	if (start == end)
		return false;
	if (end - start == 5 && strncasecmp(body + start, "false", 5) == 0)
		return false;
	if (end - start == 4 && strncasecmp(body + start, "true", 4) == 0)
		return true;
	o = json_loadb(body + start, end - start, 0, &err);
	if (json_is_object(o)) {
		v = json_object_get(o, "Events");
		if (json_is_array(v))
			notice = parse_azure(v, deadline);
		else {
			v = json_object_get(o, "time");
			if (json_is_string(v) && parse_iso8601(json_string_value(v), &d))
				*deadline = d;
		}
	}
	json_decref(o);
	return notice;
}
