// SPDX-License-Identifier: MIT
/*
 * The secret arena (tun/wg/secmem.c): slots are zeroed, aligned, reused after free, wiped
 * on free, packed many to a chunk, and allocation fails cleanly past the cap.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <check.h>

#include "tun/wg/secmem.h"

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

START_TEST(test_alloc_zero_aligned)
{
	uint8_t *a = ft_secmem_alloc(100);
	uint8_t *b = ft_secmem_alloc(100);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert_uint_eq((uintptr_t)a % 64, 0);
	ck_assert_uint_eq((uintptr_t)b % 64, 0);
	ck_assert(all_zero(a, 100));
	/* Slots do not overlap: 100 bytes round up to 128. */
	ck_assert_uint_ge((size_t)(a > b ? a - b : b - a), 128);
	memset(a, 0xa5, 100);
	memset(b, 0x5a, 100);
	ck_assert(a[99] == 0xa5 && b[0] == 0x5a);
	ft_secmem_free(a, 100);
	ft_secmem_free(b, 100);
	ft_secmem_free(NULL, 100);
}
END_TEST

START_TEST(test_reuse_is_wiped)
{
	uint8_t *a = ft_secmem_alloc(300);
	uint8_t *b;

	ck_assert_ptr_nonnull(a);
	memset(a, 0xff, 300);
	ft_secmem_free(a, 300);
	/* The free slot is wiped except for its free-list link. */
	ck_assert(all_zero(a + sizeof(void *), 320 - sizeof(void *)));
	b = ft_secmem_alloc(300);
	ck_assert_ptr_eq(a, b); /* last freed, first reused */
	ck_assert(all_zero(b, 300));
	ft_secmem_free(b, 300);
}
END_TEST

START_TEST(test_packed_in_chunks)
{
	enum { N = 2000, SZ = 512 };
	void **p = calloc(N, sizeof(*p));
	struct ft_secmem_stats before, mid, after;

	ck_assert_ptr_nonnull(p);
	ft_secmem_stats(&before);
	for (int i = 0; i < N; i++) {
		p[i] = ft_secmem_alloc(SZ);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], i & 0xff, SZ);
	}
	ft_secmem_stats(&mid);
	ck_assert_uint_eq(mid.slots_in_use - before.slots_in_use, N);
	/* N slots of SZ bytes in ceil(N * SZ / CHUNK) chunks (+1 for a partial one). */
	ck_assert_uint_le(mid.chunks - before.chunks, (size_t)N * SZ / FT_SECMEM_CHUNK + 1);
	for (int i = 0; i < N; i++) {
		ck_assert_uint_eq(((uint8_t *)p[i])[SZ - 1], i & 0xff);
		ft_secmem_free(p[i], SZ);
	}
	ft_secmem_stats(&after);
	ck_assert_uint_eq(after.slots_in_use, before.slots_in_use);
	/* Chunks stay mapped; a second round needs no new chunk. */
	for (int i = 0; i < N; i++)
		ck_assert_ptr_nonnull(p[i] = ft_secmem_alloc(SZ));
	ft_secmem_stats(&after);
	ck_assert_uint_eq(after.chunks, mid.chunks);
	for (int i = 0; i < N; i++)
		ft_secmem_free(p[i], SZ);
	free(p);
}
END_TEST

START_TEST(test_bad_sizes)
{
	errno = 0;
	ck_assert_ptr_null(ft_secmem_alloc(0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ft_secmem_alloc(FT_SECMEM_MAX_SLOT + 1));
	ck_assert_int_eq(errno, EINVAL);
	void *p = ft_secmem_alloc(FT_SECMEM_MAX_SLOT);

	ck_assert_ptr_nonnull(p);
	ft_secmem_free(p, FT_SECMEM_MAX_SLOT);
}
END_TEST

START_TEST(test_exhaustion)
{
	enum { EX_SLOT = FT_SECMEM_MAX_SLOT - 64 };
	struct ft_secmem_stats st;
	size_t got = 0;
	void *p;

	ft_secmem_stats(&st);
	/*
	 * Room for exactly one more chunk, of a size class no other test uses (with CK_FORK=no,
	 * as under valgrind, the tests share the arena and its free lists).
	 */
	ft_secmem_set_limit(st.chunk_bytes + FT_SECMEM_CHUNK);
	while ((p = ft_secmem_alloc(EX_SLOT)) != NULL) {
		got++;
		ck_assert_uint_le(got, FT_SECMEM_CHUNK / EX_SLOT);
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_eq(got, FT_SECMEM_CHUNK / EX_SLOT);
	/* Other classes fail too once the cap is reached... */
	ck_assert_ptr_null(ft_secmem_alloc(64));
	/* ...and the cap lifted, allocation works again. */
	ft_secmem_set_limit(0);
	p = ft_secmem_alloc(64);
	ck_assert_ptr_nonnull(p);
	ft_secmem_free(p, 64);
}
END_TEST

/*
 * Slots promised ahead are there later with no new chunk, even past the cap; the chunks a
 * promise maps are not resident until a slot on a page is used (locked on fault).
 */
START_TEST(test_reserve)
{
	enum { RS_SLOT = 2048, N = 3 * FT_SECMEM_CHUNK / RS_SLOT + 5 };
	static uint8_t *p[N];
	struct ft_secmem_stats before, after;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char vec;

	ck_assert_int_eq(ft_secmem_reserve(0, 1), -EINVAL);
	ck_assert_int_eq(ft_secmem_reserve(FT_SECMEM_MAX_SLOT + 1, 1), -EINVAL);
	ft_secmem_stats(&before);
	ck_assert_int_eq(ft_secmem_reserve(RS_SLOT, N), 0);
	ft_secmem_stats(&after);
	ck_assert_uint_ge(after.chunks - before.chunks, 4);
	ck_assert_uint_eq(after.slots_in_use, before.slots_in_use);
	/* Promised: a second promise of the same slots maps nothing more. */
	ck_assert_int_eq(ft_secmem_reserve(RS_SLOT, 0), 0);
	ft_secmem_stats(&before);
	ck_assert_uint_eq(before.chunks, after.chunks);

	ft_secmem_set_limit(after.chunk_bytes); /* no chunk more */
	for (int i = 0; i < N; i++) {
		p[i] = ft_secmem_alloc(RS_SLOT);
		ck_assert_ptr_nonnull(p[i]);
		if (i == 0 && after.on_fault) {
			/* A page of the chunk that no slot used yet is not resident. */
			ck_assert_int_eq(mincore((void *)(((uintptr_t)p[0] + 16 * page) &
							  ~(uintptr_t)(page - 1)),
						 page, &vec),
					 0);
			ck_assert_uint_eq(vec & 1, 0);
		}
		memset(p[i], 0x77, RS_SLOT);
	}
	ft_secmem_stats(&before);
	ck_assert_uint_eq(before.chunks, after.chunks);
	/* Past the cap, a promise that needs a chunk fails and promises nothing. */
	ck_assert_int_eq(ft_secmem_reserve(RS_SLOT, FT_SECMEM_CHUNK / RS_SLOT + 1), -ENOMEM);
	ft_secmem_set_limit(0);
	for (int i = 0; i < N; i++)
		ft_secmem_free(p[i], RS_SLOT);
	ft_secmem_unreserve(RS_SLOT, N);
	ft_secmem_unreserve(RS_SLOT, 1); /* more than promised: nothing below zero */
	ft_secmem_stats(&after);
	ck_assert_uint_eq(after.chunks, before.chunks);
}
END_TEST

static Suite *secmem_suite(void)
{
	Suite *s = suite_create("secmem");
	TCase *tc = tcase_create("secmem");

	tcase_add_test(tc, test_alloc_zero_aligned);
	tcase_add_test(tc, test_reuse_is_wiped);
	tcase_add_test(tc, test_packed_in_chunks);
	tcase_add_test(tc, test_bad_sizes);
	tcase_add_test(tc, test_exhaustion);
	tcase_add_test(tc, test_reserve);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(secmem_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
