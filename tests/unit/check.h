/* The unit tests' one check: prints "ok - DESC" or "not ok - DESC" plus a "#   why" line,
   and counts failures (the test's exit status is failures != 0). */
#ifndef SSHS_TEST_CHECK_H
#define SSHS_TEST_CHECK_H
#include <stdarg.h>
#include <stdio.h>

static int failures;

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
