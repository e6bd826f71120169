/* libFuzzer: the .sshs -> Lua translator on any bytes. Besides memory errors (ASan/UBSan)
   it checks the translator's promise: a translation has as many lines as its input. */
#include "preproc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t lines(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] == '\n';
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pp_result r;
    memset(&r, 0, sizeof r);
    int has_nul = memchr(data, 0, size) != NULL;                 /* copied through as is */
    if (pp_translate((const char *)data, size, &r) == 0) {
        if (!r.lua || r.lua[r.len] != 0) abort();                 /* NUL-terminated */
        if (!has_nul && strlen(r.lua) != r.len) abort();
        if (lines(r.lua, r.len) != lines((const char *)data, size)) abort();
    } else if (r.err[0] == 0 || r.err_line < 1) {
        abort();                                                 /* an error says what and where */
    }
    pp_result_free(&r);
    return 0;
}
