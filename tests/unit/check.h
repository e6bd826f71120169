/* The unit tests' one check: prints "ok - DESC" or "not ok - DESC" plus a "#   why" line,
   and counts failures (the test's exit status is failures != 0). */
#ifndef SSHS_TEST_CHECK_H
#define SSHS_TEST_CHECK_H
#include <stdarg.h>
#include <stdio.h>

static int failures;

/* The TAP plan, printed first: how many checks the test runs (tests/run.sh fails a short run). */
static inline void plan(int n) { printf("1..%d\n", n); }

static void check(int ok, const char *desc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *desc, const char *fmt, ...)
{
    printf("%s - %s\n", ok ? "ok" : "not ok", desc);
    if (ok) return;
    failures++;
    if (!fmt) return;
    va_list ap;
    va_start(ap, fmt);
    printf("#   ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

#endif
