/* keypool: keys rotate; a rate-limited key rests while the others serve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keypool.h"

static char *KEYS[] = {"k0", "k1", "k2"};

static struct cfg_provider provider(size_t nkeys) {
    struct cfg_provider p = {0};
    p.name = "pool";
    p.keys = KEYS;
    p.nkeys = nkeys;
    return p;
}

static void rotates_round_robin(void **state) {
    (void)state;
    struct keypool *kp = keypool_new();
    struct cfg_provider p = provider(3);
    long w;
    assert_int_equal(keypool_pick(kp, &p, 0, &w), 0);
    assert_int_equal(keypool_pick(kp, &p, 0, &w), 1);
    assert_int_equal(keypool_pick(kp, &p, 0, &w), 2);
    assert_int_equal(keypool_pick(kp, &p, 0, &w), 0);
    keypool_free(kp);
}

static void a_resting_key_is_skipped_until_its_time(void **state) {
    (void)state;
    struct keypool *kp = keypool_new();
    struct cfg_provider p = provider(2);
    long w;
    keypool_rest(kp, &p, 0, 1000);
    for (int i = 0; i < 4; i++) assert_int_equal(keypool_pick(kp, &p, 10, &w), 1);
    assert_int_equal(keypool_pick(kp, &p, 1000, &w), 0); /* back at its time */
    keypool_free(kp);
}

static void all_resting_reports_the_shortest_wait(void **state) {
    (void)state;
    struct keypool *kp = keypool_new();
    struct cfg_provider p = provider(2);
    long w = 0;
    keypool_rest(kp, &p, 0, 5000);
    keypool_rest(kp, &p, 1, 3000);
    assert_int_equal(keypool_pick(kp, &p, 1000, &w), -1);
    assert_int_equal(w, 2000);
    keypool_free(kp);
}

static void a_pool_that_changed_size_starts_afresh(void **state) {
    (void)state;
    struct keypool *kp = keypool_new();
    struct cfg_provider p = provider(2);
    long w;
    keypool_rest(kp, &p, 0, 1e9);
    keypool_rest(kp, &p, 1, 1e9);
    assert_int_equal(keypool_pick(kp, &p, 0, &w), -1);
    p = provider(3); /* a reload added a key */
    assert_int_equal(keypool_pick(kp, &p, 0, &w), 0);
    keypool_free(kp);
}

static void no_key_and_single_key(void **state) {
    (void)state;
    struct keypool *kp = keypool_new();
    struct cfg_provider none = provider(0), one = provider(1);
    long w;
    assert_int_equal(keypool_pick(kp, &none, 0, &w), -2);
    keypool_rest(kp, &one, 0, 1e9);
    assert_int_equal(keypool_pick(kp, &one, 0, &w), 0); /* the upstream's own 429 will speak */
    keypool_free(kp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rotates_round_robin),
        cmocka_unit_test(a_resting_key_is_skipped_until_its_time),
        cmocka_unit_test(all_resting_reports_the_shortest_wait),
        cmocka_unit_test(a_pool_that_changed_size_starts_afresh),
        cmocka_unit_test(no_key_and_single_key),
    };
    return cmocka_run_group_tests_name("keypool", tests, NULL, NULL);
}
