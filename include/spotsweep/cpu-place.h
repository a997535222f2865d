/* Where the scheduler's two threads run: the event loop away from the CPUs that take the
 * interrupts of the disk holding the database, the WAL flush thread on them. */
#ifndef SPOTSWEEP_CPU_PLACE_H
#define SPOTSWEEP_CPU_PLACE_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

/* From the text of /proc/interrupts, the CPUs that have taken interrupts named after device
 * (a name that starts with it, not followed by a digit: "virtio1-req.0", "nvme0q3" for
 * "virtio1", "nvme0"). Returns how many such CPUs, 0 when the device has none listed. */
int cpu_irq_cpus_parse(const char *interrupts, const char *device, cpu_set_t *out);

/* The name the kernel gives the device under the block device that holds path (the target
 * of /sys/dev/block/MAJ:MIN[/..]/device, e.g. "virtio1"), in name (size len). */
bool cpu_block_device_name(const char *path, char *name, size_t len);

/* Puts the calling thread (the event loop) on the allowed CPUs that do not take the
 * interrupts of the disk holding db_path, and flusher on those that do, when both sets are
 * non-empty; otherwise changes nothing. SPOTSWEEP_CPU_PLACEMENT=off turns it off. Writes what
 * it did (or why not) in what (size len). Returns true when it placed them. */
bool cpu_place_scheduler(const char *db_path, pthread_t flusher, char *what, size_t len);

/* In a child between fork and exec: gives back the CPUs the scheduler had before placing its
 * loop, so agents and hooks are not confined with it. Async-signal-safe. */
void cpu_place_restore_child(void);

#endif
