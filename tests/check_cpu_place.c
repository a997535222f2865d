/* Unit tests of cpu-place.c: which CPUs take a device's interrupts, read from the text of
 * /proc/interrupts (table-driven: virtio, multi-queue NVMe, gaps in the CPU numbering, a
 * longer name that only starts like the device, interrupts that never fired), the disk
 * found for a path, and the switch that turns placement off. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "spotsweep/cpu-place.h"
#include "check-main.h"

static const char virtio_2cpu[] =
    "           CPU0       CPU1       \n"
    "  1:          9          0   IO-APIC   1-edge      i8042\n"
    " 28:          0          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config\n"
    " 34:        499          0 PCI-MSIX-0000:00:05.0   1-edge      virtio4-input\n"
    " 35:          0          1 PCI-MSIX-0000:00:02.0   0-edge      virtio1-config\n"
    " 36:          0    4412790 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n"
    " 40:          7          0 PCI-MSIX-0000:00:09.0   1-edge      virtio10-req.0\n"
    "NMI:          0          0   Non-maskable interrupts\n"
    "LOC:    1234567    7654321   Local timer interrupts\n"
    "ERR:          0\n";

static const char nvme_gaps[] =
    "            CPU0       CPU2       CPU5\n"
    " 120:        10          0          0  PCI-MSIX-0000:01:00.0    0-edge      nvme0q0\n"
    " 121:       500          0          0  PCI-MSIX-0000:01:00.0    1-edge      nvme0q1\n"
    " 122:         0        800          0  PCI-MSIX-0000:01:00.0    2-edge      nvme0q2\n"
    " 123:         0          0          0  PCI-MSIX-0000:01:00.0    3-edge      nvme0q3\n"
    " 130:         0          0        999  PCI-MSIX-0000:02:00.0    1-edge      nvme1q1";

START_TEST(test_irq_cpus_parse)
{
	static const struct {
		const char	*text;
		const char	*device;
		int		 found;
		int		 cpus[4];	/* -1 ends */
	} cases[] = {
		{ virtio_2cpu, "virtio1", 1, { 1, -1 } },
		/* virtio10's interrupts are not virtio1's. */
		{ virtio_2cpu, "virtio10", 1, { 0, -1 } },
		{ virtio_2cpu, "virtio4", 1, { 0, -1 } },
		/* virtio0's one line never fired. */
		{ virtio_2cpu, "virtio0", 0, { -1 } },
		{ virtio_2cpu, "vda", 0, { -1 } },
		{ virtio_2cpu, "", 0, { -1 } },
		/* Columns are CPUs 0, 2 and 5; queue 3 never fired. */
		{ nvme_gaps, "nvme0", 2, { 0, 2, -1 } },
		/* The last line has no newline. */
		{ nvme_gaps, "nvme1", 1, { 5, -1 } },
		{ "", "virtio1", 0, { -1 } },
		{ "no header here\n 36: 1 virtio1-req.0\n", "virtio1", 0, { -1 } },
		/* A line with fewer counts than CPUs is skipped. */
		{ "  CPU0 CPU1\n 36: 5\n", "virtio1", 0, { -1 } },
	};
	size_t i;

	for (i = 0; i < CHECK_NELEM(cases); i++) {
		cpu_set_t set;
		int j, n = cpu_irq_cpus_parse(cases[i].text, cases[i].device, &set);

		ck_assert_msg(n == cases[i].found, "case %zu: %d CPUs, want %d", i, n,
		    cases[i].found);
		ck_assert_int_eq(CPU_COUNT(&set), cases[i].found);
		for (j = 0; cases[i].cpus[j] >= 0; j++)
			ck_assert_msg(CPU_ISSET(cases[i].cpus[j], &set), "case %zu: CPU %d missing",
			    i, cases[i].cpus[j]);
	}
}
END_TEST

START_TEST(test_block_device_name)
{
	char name[128];

	ck_assert(!cpu_block_device_name("/nonexistent/spotsweep/db", name, sizeof name));
	/* Where /tmp is on a disk sysfs knows, its device has a plain name; on tmpfs or an
	 * overlay there is none, and the function says so. */
	if (cpu_block_device_name("/tmp", name, sizeof name)) {
		ck_assert_uint_gt(strlen(name), 0);
		ck_assert_ptr_null(strchr(name, '/'));
		/* Too small a buffer is refused, not truncated. */
		ck_assert(!cpu_block_device_name("/tmp", name, strlen(name)));
	}
}
END_TEST

START_TEST(test_placement_off)
{
	char what[256];

	setenv("SPOTSWEEP_CPU_PLACEMENT", "off", 1);
	ck_assert(!cpu_place_scheduler("/tmp", pthread_self(), what, sizeof what));
	ck_assert_str_eq(what, "CPU placement off (SPOTSWEEP_CPU_PLACEMENT=off)");
	unsetenv("SPOTSWEEP_CPU_PLACEMENT");
	/* Not placed: a child has nothing to give back and keeps what it has. */
	cpu_place_restore_child();
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "irq_cpus_parse", test_irq_cpus_parse },
		{ "block_device_name", test_block_device_name },
		{ "placement_off", test_placement_off },
	};

	return check_main("cpu_place", tests, CHECK_NELEM(tests), NULL, NULL, 0);
}
