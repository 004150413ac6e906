// SPDX-License-Identifier: GPL-2.0
/*
 * packet_ring - pages a driver maps with vm_insert_page() take no fault.
 *
 * Does: opens an AF_PACKET socket bound to no protocol (it receives
 *   nothing), sets up a PACKET_RX_RING of PAGES blocks of one page each,
 *   maps the ring (mmap() of the socket, MAP_SHARED), reads one byte of
 *   each page, reads its exact RSS (smaps_rollup) and exits with the ring
 *   still mapped.  The mmap() maps every page of the ring at once; reading
 *   it takes no page fault.
 * Cause (2.6.34 .. 6.1): net/packet/af_packet.c:packet_mmap() maps the
 *   ring with vm_insert_page(), and mm/memory.c:insert_page() counts each
 *   page with inc_mm_counter_fast() into the calling thread's cache
 *   without counting an event; check_sync_rss_stat() folds the cache only
 *   on the 66th page fault after the last fold, so a cache can hold any
 *   number of pages a driver mapped (PACKET_RX_RING, TCP zerocopy receive,
 *   drivers' mmap()), beyond 66 faults' worth.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): insert_page() counts with inc_mm_counter() on the
 *   per-CPU counter; only the per-CPU residue stays unseen.
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Needs: CAP_NET_RAW (root) and CONFIG_PACKET; exits 4 (skip) without.
 * Usage: packet_ring PAGES
 * Output: one JSON line: pages, faults, peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

#include <linux/if_packet.h>
#include <sys/socket.h>

static const char usage[] = "packet_ring PAGES";
static const char *const arg_names[] = { "PAGES" };

/* An AF_PACKET socket with a receive ring of pages one-page blocks. */
static int ring_socket(long pages, long page)
{
	struct tpacket_req req;
	int fd;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0 && (errno == EPERM || errno == EACCES))
		rsslab_skip("socket(AF_PACKET) needs CAP_NET_RAW; run as root");
	if (fd < 0 && errno == EAFNOSUPPORT)
		rsslab_skip("no AF_PACKET in this kernel (CONFIG_PACKET)");
	if (fd < 0)
		die("socket(AF_PACKET, SOCK_RAW, 0)");
	memset(&req, 0, sizeof(req));
	req.tp_block_size = (unsigned int)page;
	req.tp_block_nr = (unsigned int)pages;
	req.tp_frame_size = (unsigned int)page / 2;
	req.tp_frame_nr = (unsigned int)pages * 2;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
		die("setsockopt(PACKET_RX_RING, %ld one-page blocks)", pages);
	return fd;
}

int main(int argc, char **argv)
{
	struct rsslab_report r;
	long page = rsslab_page_size();
	long pages, before, after;
	volatile const char *ring;
	long sum = 0;
	int fd;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", packet_ring_pages_min,
	                   packet_ring_pages_max, usage);
	rsslab_rep_begin(&r, "packet_ring");
	rsslab_warm_up();
	rsslab_rep_int(&r, "pages", pages);
	fd = ring_socket(pages, page);
	before = rsslab_faults();
	ring = mmap(NULL, (size_t)pages * (size_t)page, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED)
		die("mmap the %ld-page ring", pages);
	for (long i = 0; i < pages; i++)
		sum += ring[i * page];
	after = rsslab_faults();
	if (sum != 0) {	/* the ring is allocated zeroed and nothing arrived */
		errno = 0;
		die("the ring holds data (sum %ld); expected none", sum);
	}
	rsslab_rep_int(&r, "faults", after - before);
	rsslab_rep_peak(&r, rsslab_self_smaps());
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
