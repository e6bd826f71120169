/* Golden tests for the .sshs preprocessor: runs every case of every .test file in tests/golden/
 * (from the repository root) and prints "ok - FILE:LINE description" or "not ok - ..."
 * followed by '#' lines; exits 0 iff all pass.  The case format is described at the top
 * of each .test file:
 *
 *   @@ case [noeol] [cr]: DESCRIPTION
 *   input lines...
 *   @@ lua                   then the expected Lua, up to the next "@@ case", or
 *   @@ error LINE            then one line: the expected message
 *
 * Every successful translation must also have as many '\n' as its input, and each
 * file gets one more test: every prefix of every input translates or fails cleanly. */
#include "preproc.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct str { char *p; size_t n, cap; };

static void add(struct str *s, const char *p, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        if (!s->p) { perror("realloc"); exit(2); }
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static size_t count_nl(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] == '\n';
    return k;
}

/* "<CR>" in a case marked cr stands for a carriage return byte. */
static void unescape_cr(struct str *s)
{
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->n - i >= 4 && memcmp(s->p + i, "<CR>", 4) == 0) { s->p[o++] = '\r'; i += 3; }
        else s->p[o++] = s->p[i];
    }
    s->n = o;
    if (s->p) s->p[o] = '\0';
}

static void show(const char *label, const char *p, size_t n)
{
    printf("# %s\n#   |", label);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') printf(i + 1 < n ? "\n#   |" : "\\n(end)");
        else if (p[i] == '\r') printf("<CR>");
        else putchar(p[i]);
    }
    if (n == 0 || p[n - 1] != '\n') printf("(no newline at end)");
    putchar('\n');
}

struct gcase {
    const char *file;
    int line, noeol, cr, is_err, err_line;
    char desc[256];
    struct str in, exp;
};

static int failures;
static int planned;   /* checks the parsed files call for: cases + one prefix check per file */

static void run_case(struct gcase *c)
{
    struct pp_result r;
    int rc, ok;
    if (c->noeol) {
        if (c->in.n && c->in.p[c->in.n - 1] == '\n') c->in.n--;
        if (c->exp.n && c->exp.p[c->exp.n - 1] == '\n') c->exp.n--;
    }
    if (c->cr) { unescape_cr(&c->in); unescape_cr(&c->exp); }
    if (c->is_err && c->exp.n && c->exp.p[c->exp.n - 1] == '\n') c->exp.n--;

    rc = pp_translate(c->in.p ? c->in.p : "", c->in.n, &r);
    if (c->is_err)
        ok = rc == -1 && !r.lua && r.err_line == c->err_line && strlen(r.err) == c->exp.n &&
             memcmp(r.err, c->exp.p, c->exp.n) == 0;
    else
        ok = rc == 0 && r.lua && r.len == c->exp.n && memcmp(r.lua, c->exp.p, r.len) == 0 &&
             r.lua[r.len] == '\0' && count_nl(r.lua, r.len) == count_nl(c->in.p, c->in.n);
    printf("%s - %s:%d %s\n", ok ? "ok" : "not ok", c->file, c->line, c->desc);
    if (!ok) {
        failures++;
        show("input:", c->in.p, c->in.n);
        if (c->is_err) printf("# expected error at line %d: %.*s\n", c->err_line, (int)c->exp.n, c->exp.p);
        else show("expected:", c->exp.p, c->exp.n);
        if (rc == 0) {
            show("got:", r.lua, r.len);
            if (count_nl(r.lua, r.len) != count_nl(c->in.p, c->in.n))
                printf("# line count differs: input %zu, output %zu\n", count_nl(c->in.p, c->in.n),
                       count_nl(r.lua, r.len));
        } else {
            printf("# got error at line %d: %s\n", r.err_line, r.err);
        }
    }
    pp_result_free(&r);
}

/* Every prefix of every input: a translation keeps the line count, an error has a message
   and a line inside the input.  Catches crashes and overruns on truncated constructs. */
static void run_prefixes(const char *file, struct gcase *cs, int n)
{
    int bad = 0;
    for (int k = 0; k < n && !bad; k++) {
        for (size_t len = 0; len <= cs[k].in.n && !bad; len++) {
            struct pp_result r;
            size_t nl = count_nl(cs[k].in.p, len);
            if (pp_translate(cs[k].in.p ? cs[k].in.p : "", len, &r) == 0) {
                bad = count_nl(r.lua, r.len) != nl;
            } else {
                bad = r.lua || !r.err[0] || r.err_line < 1 || (size_t)r.err_line > nl + 1;
            }
            if (bad) {
                printf("not ok - %s: prefixes of inputs translate or fail cleanly\n", file);
                printf("# case at line %d, prefix of %zu bytes\n", cs[k].line, len);
                if (r.lua) show("got:", r.lua, r.len);
                else printf("# got error at line %d: %s\n", r.err_line, r.err);
                failures++;
            }
            pp_result_free(&r);
        }
    }
    if (!bad) printf("ok - %s: prefixes of inputs translate or fail cleanly\n", file);
}

static void malformed(const char *file, int line, const char *why)
{
    printf("not ok - %s:%d malformed golden file: %s\n", file, line, why);
    failures++;
}

/* "@@ case [noeol] [cr]: desc" -> 0, or -1 if malformed. */
static int parse_header(const char *l, size_t n, struct gcase *c)
{
    const char *colon = memchr(l, ':', n), *w = l + 7;
    if (!colon) return -1;
    while (w < colon) {
        const char *e = w;
        while (e < colon && *e != ' ') e++;
        if (e - w == 5 && memcmp(w, "noeol", 5) == 0) c->noeol = 1;
        else if (e - w == 2 && memcmp(w, "cr", 2) == 0) c->cr = 1;
        else if (e > w) return -1;
        w = e + 1;
    }
    for (w = colon + 1; w < l + n && *w == ' '; w++) {}
    snprintf(c->desc, sizeof c->desc, "%.*s", (int)(l + n - w), w);
    return 0;
}

static void run_file(const char *file)
{
    FILE *f = fopen(file, "rb");
    struct str text = {0};
    char chunk[4096];
    size_t got;
    struct gcase *cs = NULL;
    int ncs = 0, state = 0, lineno = 0;   /* state: 0 head, 1 input, 2 expected */
    int counted = 0;
    if (!f) { malformed(file, 0, "cannot open"); planned++; return; }
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) add(&text, chunk, got);
    fclose(f);
    for (size_t i = 0; i < text.n;) {
        const char *l = text.p + i, *nl = memchr(l, '\n', text.n - i);
        size_t n = nl ? (size_t)(nl - l) : text.n - i;
        struct gcase *c = ncs ? &cs[ncs - 1] : NULL;
        i += n + (nl != NULL);
        lineno++;
        if (n >= 7 && memcmp(l, "@@ case", 7) == 0) {
            if (state == 1) { malformed(file, c->line, "case without '@@ lua' or '@@ error'"); goto out; }
            cs = realloc(cs, (ncs + 1) * sizeof *cs);
            if (!cs) { perror("realloc"); exit(2); }
            c = &cs[ncs++];
            memset(c, 0, sizeof *c);
            c->file = file;
            c->line = lineno;
            if (parse_header(l, n, c)) { malformed(file, lineno, "bad '@@ case' line"); goto out; }
            state = 1;
        } else if (state == 1 && n == 6 && memcmp(l, "@@ lua", 6) == 0) {
            state = 2;
        } else if (state == 1 && n > 9 && memcmp(l, "@@ error ", 9) == 0) {
            c->is_err = 1;
            c->err_line = atoi(l + 9);
            state = 2;
        } else if (n >= 3 && memcmp(l, "@@ ", 3) == 0) {
            malformed(file, lineno, "unknown '@@' line");
            goto out;
        } else if (state == 0) {
            if (n && l[0] != '#') { malformed(file, lineno, "text before the first case"); goto out; }
        } else {
            struct str *s = state == 1 ? &c->in : &c->exp;
            add(s, l, n);
            add(s, "\n", 1);
        }
    }
    if (state == 1) { malformed(file, cs[ncs - 1].line, "case without '@@ lua' or '@@ error'"); goto out; }
    planned += ncs + 1;
    counted = 1;
    for (int k = 0; k < ncs; k++) {
        if (cs[k].is_err && count_nl(cs[k].exp.p, cs[k].exp.n) != 1)
            malformed(file, cs[k].line, "an error case wants exactly one message line");
        else
            run_case(&cs[k]);
    }
    run_prefixes(file, cs, ncs);
out:
    if (!counted) planned++;   /* a malformed file is one failed check */
    for (int k = 0; k < ncs; k++) { free(cs[k].in.p); free(cs[k].exp.p); }
    free(cs);
    free(text.p);
}

int main(void)
{
    glob_t g;
    if (glob("tests/golden/*.test", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        printf("1..1\nnot ok - no tests/golden/*.test (run from the repository root)\n");
        return 1;
    }
    for (size_t k = 0; k < g.gl_pathc; k++) run_file(g.gl_pathv[k]);
    globfree(&g);
    printf("1..%d\n", planned);   /* at the end (TAP allows it): a crash leaves no plan */
    return failures ? 1 : 0;
}
