// SPDX-License-Identifier: GPL-2.0
/*
 * vm_sizes - VmData, VmStk and VmExe are sizes of mappings, counted exactly.
 *
 * Does: maps PAGES private writable anonymous pages (not touched), then
 *   reads /proc/self/status (VmData, VmStk, VmExe), /proc/self/maps and
 *   /proc/self/stat (startcode, endcode) and reports, next to each field,
 *   the same size taken from the mappings: the private writable mappings
 *   that are not the stack (VmData), the [stack] mapping (VmStk), and the
 *   text segment from startcode to the page end of endcode (VmExe).
 * Cause (all): fs/proc/task_mmu.c:task_mem() prints mm->data_vm,
 *   mm->stack_vm and the text segment (at most mm->exec_vm); mm/mmap.c:
 *   vm_stat_account() updates data_vm, stack_vm and exec_vm under the mmap
 *   lock whenever a mapping is added, grown, changed or removed.  None of
 *   them is a per-thread or per-CPU RSS counter, so the note on
 *   inaccuracy in proc_pid_status(5) never applied to them.
 * Usage: vm_sizes PAGES
 * Output: one JSON line: pages, vmdata_kib, maps_data_kib, vmstk_kib,
 *   maps_stack_kib, vmexe_kib, text_kib, peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

static const char usage[] = "vm_sizes PAGES";
static const char *const arg_names[] = { "PAGES" };

#define MAPS_BUF (256 * 1024)

struct from_maps {
	long data_kib;		/* private writable, not the stack */
	long stack_kib;		/* [stack] */
};

/* Sum the mappings of /proc/self/maps as data_vm and stack_vm count them. */
static struct from_maps read_maps(char *buf, size_t size)
{
	struct from_maps m = { 0, 0 };
	char *line, *save = NULL;

	if (rsslab_read_file("/proc/self/maps", buf, size) < 0)
		die("read /proc/self/maps");
	if (strlen(buf) >= size - 1) {
		errno = 0;
		die("/proc/self/maps is longer than %zu bytes", size - 1);
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long lo, hi;
		char perms[5];
		int name = 0;

		if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &lo, &hi, perms, &name) < 3) {
			errno = 0;
			die("cannot parse a line of /proc/self/maps: '%.80s'", line);
		}
		if (name && !strcmp(line + name, "[stack]"))
			m.stack_kib += (long)((hi - lo) / 1024);
		else if (perms[1] == 'w' && perms[3] == 'p')
			m.data_kib += (long)((hi - lo) / 1024);
	}
	return m;
}

/* The text segment from /proc/self/stat fields 26 and 27, in KiB. */
static long text_kib(long page)
{
	char buf[RSSLAB_PROC_BUF];
	unsigned long start, end;
	char *p;

	if (rsslab_read_file("/proc/self/stat", buf, sizeof(buf)) < 0)
		die("read /proc/self/stat");
	p = strrchr(buf, ')');	/* the command name may hold anything */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
			 "%*d %*d %*d %*d %*d %*d %*u %*u %*d %*u %lu %lu",
			 &start, &end) != 2) {
		errno = 0;
		die("cannot parse /proc/self/stat: '%.80s'", buf);
	}
	end = (end + (unsigned long)page - 1) & ~((unsigned long)page - 1);
	start &= ~((unsigned long)page - 1);
	return (long)((end - start) / 1024);
}

static long status_field(const char *buf, const char *key)
{
	long v = rsslab_field(buf, key);

	if (v < 0) {
		errno = 0;
		die("no '%s:' line in /proc/self/status", key);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const size_t maps_size = MAPS_BUF;
	char status[RSSLAB_PROC_BUF];
	struct rsslab_report r;
	long page = rsslab_page_size();
	struct from_maps m;
	long pages, text;
	char *maps;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", vm_sizes_pages_min,
	                   vm_sizes_pages_max, usage);
	rsslab_rep_begin(&r, "vm_sizes");
	rsslab_warm_up();
	rsslab_rep_int(&r, "pages", pages);
	maps = rsslab_map_anon((long)(maps_size / (size_t)page), page);
	(void)rsslab_map_anon(pages, page);
	/* Nothing is mapped or unmapped from here to the last reading. */
	text = text_kib(page);
	if (rsslab_read_file("/proc/self/status", status, sizeof(status)) < 0)
		die("read /proc/self/status");
	m = read_maps(maps, maps_size);
	rsslab_rep_int(&r, "vmdata_kib", status_field(status, "VmData"));
	rsslab_rep_int(&r, "maps_data_kib", m.data_kib);
	rsslab_rep_int(&r, "vmstk_kib", status_field(status, "VmStk"));
	rsslab_rep_int(&r, "maps_stack_kib", m.stack_kib);
	rsslab_rep_int(&r, "vmexe_kib", status_field(status, "VmExe"));
	rsslab_rep_int(&r, "text_kib", text);
	rsslab_rep_peak(&r, rsslab_self_smaps());
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
