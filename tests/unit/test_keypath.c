/* keypath: the key paths that name a config error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "keypath.h"

static void builds_and_pops_paths(void **state) {
    (void)state;
    struct keypath p = {.len = 0};
    p.buf[0] = '\0';
    size_t a = keypath_key(&p, "Providers");
    size_t b = keypath_index(&p, 1);
    keypath_key(&p, "api_key");
    assert_string_equal(p.buf, "Providers[1].api_key");
    keypath_pop(&p, b);
    assert_string_equal(p.buf, "Providers");
    keypath_pop(&p, a);
    assert_string_equal(p.buf, "");
}

static void an_absurd_key_is_truncated_not_overflowed(void **state) {
    (void)state;
    struct keypath p = {.len = 0};
    p.buf[0] = '\0';
    char big[1000];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    keypath_key(&p, big);
    keypath_index(&p, 7);
    assert_int_equal(p.len, sizeof p.buf - 1);
    assert_int_equal(strlen(p.buf), sizeof p.buf - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builds_and_pops_paths),
        cmocka_unit_test(an_absurd_key_is_truncated_not_overflowed),
    };
    return cmocka_run_group_tests_name("keypath", tests, NULL, NULL);
}
