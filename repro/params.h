/* SPDX-License-Identifier: GPL-2.0 */
/*
 * params.h - the reproducers' integer parameters, the one place their
 * ranges are written.
 *
 * RSSLAB_PARAM(scenario, name, minimum, maximum, default): the reproducer
 * repro/<scenario>.c refuses a value outside [minimum, maximum], and
 * rsslab/scenarios.py reads this file for the command line, the claims'
 * runs and their defaults.  Plain decimal literals only (both read them).
 * Parameters that name a choice (a mode) are not here.
 */
RSSLAB_PARAM(seed, input_kib, 1, 1024, 128)
RSSLAB_PARAM(touch, pages, 0, 1048576, 100)
RSSLAB_PARAM(threads, threads, 1, 1024, 16)
RSSLAB_PARAM(threads, pages, 0, 65536, 63)
RSSLAB_PARAM(peak_then_free, pages, 0, 1048576, 1000)
RSSLAB_PARAM(file_faultaround, pages, 0, 262144, 1024)
RSSLAB_PARAM(cpu_spread, pages, 0, 65536, 64)
RSSLAB_PARAM(big_parent, parent_mib, 1, 4096, 64)
RSSLAB_PARAM(getrusage_self, pages, 0, 1048576, 1000)
RSSLAB_PARAM(packet_ring, pages, 1, 262144, 2112)
RSSLAB_PARAM(cow_other_unmaps, writers, 1, 256, 4)
RSSLAB_PARAM(cow_other_unmaps, pages, 1, 65536, 60)
RSSLAB_PARAM(threads_exit_group, threads, 1, 256, 4)
RSSLAB_PARAM(threads_exit_group, pages, 0, 65536, 63)
RSSLAB_PARAM(vm_sizes, pages, 1, 16777216, 100)
RSSLAB_PARAM(shmem_touch, pages, 1, 1048576, 100)
RSSLAB_PARAM(live_writers_free, writers, 1, 256, 4)
RSSLAB_PARAM(live_writers_free, pages, 0, 65536, 60)
RSSLAB_PARAM(live_writers_free, free, 0, 1048576, 1000)
RSSLAB_PARAM(leader_exits_first, pages, 0, 1048576, 25600)
RSSLAB_PARAM(tree_hold, parent_pages, 0, 1048576, 5120)
RSSLAB_PARAM(tree_hold, child_pages, 0, 1048576, 12800)
