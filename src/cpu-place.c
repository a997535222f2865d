/* Placement of the scheduler's threads on CPUs.
 *
 * The event loop does the scheduler's work; the flush thread mostly waits for fdatasync. The
 * disk's completion interrupts (and the block layer's softirq after them) run on whichever
 * CPU the interrupt is routed to, in the middle of whatever thread runs there. On a 2-vCPU
 * virtual machine with virtio-blk routed to CPU 1, the loop lost about 10% of its time to
 * them when the kernel put it on CPU 1: with the loop on CPU 0 and the flush thread on
 * CPU 1, `make bench`'s lease+finish pairs went from ~5,300 to ~6,070 a second (and ~5,200
 * the other way round). So the loop gets the allowed CPUs that do not take the database
 * disk's interrupts and the flush thread those that do, when both exist; with interrupts
 * spread over every CPU (multi-queue NVMe) or a single CPU nothing changes.
 *
 * The device is found through sysfs (/sys/dev/block/MAJ:MIN, its disk if it is a partition,
 * then the name of its `device` link: "virtio1", "nvme0") and its interrupts in
 * /proc/interrupts by name. Where that fails (tmpfs, a device-mapper stack, no /sys) nothing
 * is placed. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "spotsweep/cpu-place.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* What the process could use before the loop was placed; restored in children. */
static cpu_set_t original_cpus;
static bool placed;

/* The column headers "CPU0 CPU1 ..." of /proc/interrupts: the CPU number of each column. */
static int
parse_header(const char *line, int *cpus, int max)
{
	int n = 0;

	while (*line != '\0' && *line != '\n' && n < max) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (strncmp(line, "CPU", 3) != 0)
			break;
		line += 3;
		if (!isdigit((unsigned char)*line))
			break;
		cpus[n++] = (int)strtol(line, (char **)&line, 10);
	}
	return n;
}

int
cpu_irq_cpus_parse(const char *interrupts, const char *device, cpu_set_t *out)
{
	int cpus[CPU_SETSIZE], ncols, found = 0;
	size_t dlen = strlen(device);
	const char *line, *end;

	CPU_ZERO(out);
	if (dlen == 0 || (ncols = parse_header(interrupts, cpus, CPU_SETSIZE)) == 0)
		return 0;
	for (line = strchrnul(interrupts, '\n'); *line != '\0'; line = end) {
		const char *p, *name, *stop;
		bool fired[CPU_SETSIZE];
		int i;

		line++;
		end = strchrnul(line, '\n');
		/* "  36:  0  4412790  PCI-MSIX-0000:00:02.0  1-edge  virtio1-req.0" */
		p = line;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || !isdigit((unsigned char)*p))
			continue;
		while (p < end && *p != ':')
			p++;
		if (p == end)
			continue;
		p++;
		for (i = 0; i < ncols; i++) {
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p == end || !isdigit((unsigned char)*p))
				break;
			fired[i] = strtoll(p, (char **)&p, 10) > 0;
		}
		if (i < ncols)
			continue;
		/* The name is the line's last word. */
		stop = end;
		while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r'))
			stop--;
		name = stop;
		while (name > p && name[-1] != ' ' && name[-1] != '\t')
			name--;
		if ((size_t)(stop - name) <= dlen || strncmp(name, device, dlen) != 0 ||
		    isdigit((unsigned char)name[dlen]))
			continue;
		for (i = 0; i < ncols; i++) {
			if (fired[i] && cpus[i] >= 0 && cpus[i] < CPU_SETSIZE &&
			    !CPU_ISSET(cpus[i], out)) {
				CPU_SET(cpus[i], out);
				found++;
			}
		}
	}
	return found;
}

bool
cpu_block_device_name(const char *path, char *name, size_t len)
{
	char sys[PATH_MAX], link[PATH_MAX], disk[PATH_MAX + 16];
	struct stat sb;
	const char *base;
	ssize_t n;

	if (stat(path, &sb) != 0)
		return false;
	snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u", major(sb.st_dev), minor(sb.st_dev));
	if (realpath(sys, link) == NULL)
		return false;
	/* A partition's own directory has a "partition" file and sits in its disk's. */
	snprintf(disk, sizeof disk, "%s/partition", link);
	if (access(disk, F_OK) == 0)
		snprintf(disk, sizeof disk, "%s/../device", link);
	else
		snprintf(disk, sizeof disk, "%s/device", link);
	if ((n = readlink(disk, sys, sizeof sys - 1)) <= 0)
		return false;
	sys[n] = '\0';
	base = strrchr(sys, '/') != NULL ? strrchr(sys, '/') + 1 : sys;
	if (*base == '\0' || strlen(base) >= len)
		return false;
	memcpy(name, base, strlen(base) + 1);
	return true;
}

static void
describe(char *out, size_t len, const cpu_set_t *set)
{
	size_t used = 0;
	int cpu;

	out[0] = '\0';
	for (cpu = 0; cpu < CPU_SETSIZE && used + 8 < len; cpu++) {
		if (CPU_ISSET(cpu, set))
			used += (size_t)snprintf(out + used, len - used, "%s%d", used ? "," : "",
			    cpu);
	}
}

bool
cpu_place_scheduler(const char *db_path, pthread_t flusher, char *what, size_t len)
{
	const char *env = getenv("SPOTSWEEP_CPU_PLACEMENT");
	cpu_set_t allowed, irq, loop, flush;
	char device[128], *text, *cause = NULL, a[128], b[128];
	size_t tlen;

	if (env != NULL && strcmp(env, "off") == 0) {
		snprintf(what, len, "CPU placement off (SPOTSWEEP_CPU_PLACEMENT=off)");
		return false;
	}
	if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
		snprintf(what, len, "threads not placed: one CPU");
		return false;
	}
	if (!cpu_block_device_name(db_path, device, sizeof device)) {
		snprintf(what, len, "threads not placed: the database's disk is not known");
		return false;
	}
	if (read_file("/proc/interrupts", 1 << 20, &text, &tlen, &cause) != 0) {
		snprintf(what, len, "threads not placed: %s", cause);
		free(cause);
		return false;
	}
	cpu_irq_cpus_parse(text, device, &irq);
	free(text);
	CPU_AND(&flush, &allowed, &irq);
	CPU_XOR(&loop, &allowed, &flush);
	if (CPU_COUNT(&flush) == 0 || CPU_COUNT(&loop) == 0) {
		snprintf(what, len, "threads not placed: %s's interrupts %s", device,
		    CPU_COUNT(&flush) == 0 ? "are on no CPU of ours" : "are on every CPU of ours");
		return false;
	}
	if (pthread_setaffinity_np(pthread_self(), sizeof loop, &loop) != 0) {
		snprintf(what, len, "threads not placed: %s", strerror(errno));
		return false;
	}
	original_cpus = allowed;
	placed = true;
	pthread_setaffinity_np(flusher, sizeof flush, &flush);
	describe(a, sizeof a, &loop);
	describe(b, sizeof b, &flush);
	snprintf(what, len, "event loop on CPU %s, flush thread on CPU %s (%s's interrupts)", a,
	    b, device);
	return true;
}

void
cpu_place_restore_child(void)
{
	if (placed)
		sched_setaffinity(0, sizeof original_cpus, &original_cpus);
}
