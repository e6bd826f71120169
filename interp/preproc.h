/* The .sshs -> Lua source translator (pure C: no lua_State, fuzzable).
   See tests/golden/ (the .test files) for every form and its exact translation. */
#ifndef SSHS_PREPROC_H
#define SSHS_PREPROC_H
#include <stddef.h>

struct pp_result {
    char  *lua;        /* translated source, NUL-terminated, malloc'd (NULL on error) */
    size_t len;
    int    err_line;   /* 1-based line of the error, 0 if none */
    char   err[256];   /* message without file/line prefix, e.g. "unterminated $[[ block" */
};

/* Translates .sshs text to Lua text with the same number of lines (every line N of the input is
   line N of the output). Returns 0, or -1 with err/err_line set. */
int  pp_translate(const char *src, size_t len, struct pp_result *out);
void pp_result_free(struct pp_result *r);

#endif
