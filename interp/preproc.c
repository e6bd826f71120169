/* .sshs -> Lua, line for line.
 *
 * One recursive pass.  lua_code() copies Lua through, lexing just what can
 * hide a '$' (strings, long brackets, comments) or end a region (brackets,
 * 'do'), and hands each '$' and each 'with' statement to the sugar functions.
 * Command text becomes a table of pieces {"text",_S.q(expr,"expr"),...} (a
 * table, not call arguments, so a 500-line script cannot exhaust Lua's
 * registers).  Every newline consumed from the source is written out as a
 * newline, so line N of the input is line N of the output and Lua's own
 * messages and tracebacks point at the right line.
 * The .test files in tests/golden/ show every form and error with its exact translation.
 */
#include "preproc.h"
#include "shctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEST 200  /* deeper nesting is an error, not a stack overflow */

struct buf { char *p; size_t n, cap; int oom; };

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->oom || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void put_s(struct buf *b, const char *s) { put(b, s, strlen(s)); }
static void put_c(struct buf *b, int c) { char ch = (char)c; put(b, &ch, 1); }

struct pp {
    const char *s;
    size_t n, i;              /* source, its length, the cursor */
    struct buf *o;            /* where output goes (with_stmt swaps it) */
    int nwith, nest, failed;
    int line_open;            /* blocks opened on the current line and not yet closed */
    int value_pos;            /* the '$' at hand stands where a value is expected */
    int block_level;          /* the level of the $[[ ]] block being read, or -1 */
    struct pp_result *res;
};

/* The byte at i, or -1 past the end: lets every lookahead skip bounds checks. */
static int at(const struct pp *p, size_t i) { return i < p->n ? (unsigned char)p->s[i] : -1; }

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
static int is_space(int c) { return is_blank(c) || c == '\n'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_name0(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name(int c) { return is_name0(c) || is_digit(c); }

static void copy(struct pp *p, size_t from, size_t to) { put(p->o, p->s + from, to - from); }

/* Records the first error (inner constructs report theirs; outer ones just unwind). */
static int fail(struct pp *p, size_t where, const char *msg)
{
    if (!p->failed) {
        int line = 1;
        for (size_t k = 0; k < where && k < p->n; k++) line += p->s[k] == '\n';
        p->failed = 1;
        p->res->err_line = line;
        snprintf(p->res->err, sizeof p->res->err, "%s", msg);
    }
    return -1;
}

/* ---- Lua lexing ---- */

/* Level of a long bracket [==[ opening at i, or -1. */
static int long_open(const struct pp *p, size_t i)
{
    size_t j = i + 1;
    if (at(p, i) != '[') return -1;
    while (at(p, j) == '=') j++;
    return at(p, j) == '[' ? (int)(j - i - 1) : -1;
}

static int long_close(const struct pp *p, size_t i, int level)
{
    if (at(p, i) != ']') return 0;
    for (int k = 1; k <= level; k++)
        if (at(p, i + k) != '=') return 0;
    return at(p, i + level + 1) == ']';
}

/* Just past the long bracket opening at i (the end of input if unclosed: Lua reports that). */
static size_t skip_long(const struct pp *p, size_t i, int level)
{
    for (i += level + 2; i < p->n; i++)
        if (long_close(p, i, level)) return i + level + 2;
    return p->n;
}

/* Just past the short string opening at i; like Lua, an unescaped newline ends it. */
static size_t skip_short(const struct pp *p, size_t i)
{
    int q = at(p, i);
    for (i++; i < p->n; i++) {
        int c = at(p, i);
        if (c == q) return i + 1;
        if (c == '\n') return i;
        if (c == '\\') {   /* skips \", \\, \<newline>, and \z with the blanks and lines after it */
            i++;
            if (at(p, i) == 'z') while (is_space(at(p, i + 1))) i++;
            else if (at(p, i) == '\r' && at(p, i + 1) == '\n') i++;
        }
    }
    return p->n;
}

static size_t skip_number(const struct pp *p, size_t i)
{
    int expo = at(p, i) == '0' && (at(p, i + 1) | 32) == 'x' ? 'p' : 'e';
    for (;;) {
        int c = at(p, i);
        if ((c | 32) == expo && (at(p, i + 1) == '+' || at(p, i + 1) == '-')) i += 2;
        else if (is_name(c) || c == '.') i++;
        else return i;
    }
}

static int word_is(const struct pp *p, size_t st, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(p->s + st, w, len) == 0;
}

static int word_in(const struct pp *p, size_t st, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (word_is(p, st, len, *list)) return 1;
    return 0;
}

/* ---- command pieces: {"text",_S.q(expr,"expr"),...} ---- */

/* A string item is open; a ',' is owed; the shell's view of the text so far (for #{}). */
struct pieces { int open, comma; struct shctx sh; };

static void esc(struct buf *b, int c)
{
    char tmp[8];
    switch (c) {
    case '\\': put_s(b, "\\\\"); break;
    case '"':  put_s(b, "\\\""); break;
    case '\n': put_s(b, "\\n"); break;
    case '\r': put_s(b, "\\r"); break;
    case '\t': put_s(b, "\\t"); break;
    default:
        if (c < 32 || c == 127) {   /* 3 digits, so a following digit cannot join in */
            snprintf(tmp, sizeof tmp, "\\%03d", c);
            put_s(b, tmp);
        } else {
            put_c(b, c);
        }
    }
}

static void pc_init(struct pieces *pc)
{
    pc->open = pc->comma = 0;
    shctx_init(&pc->sh);
}

/* Before a non-text item, or a physical newline that is not text. */
static void pc_sep(struct pp *p, struct pieces *pc)
{
    if (pc->open) { put_c(p->o, '"'); pc->open = 0; pc->comma = 1; }
    if (pc->comma) { put_c(p->o, ','); pc->comma = 0; }
}

/* A heredoc body becomes _S.hd({pieces},"DELIM",dash,terminated): at run time it checks
   that no interpolated value put a line equal to the delimiter inside the body. */
static void hd_open(struct pp *p, struct pieces *pc)
{
    pc_sep(p, pc);
    put_s(p->o, "_S.hd({");
}

static void hd_close(struct pp *p, struct pieces *pc, const struct shctx_hdoc *h, int terminated)
{
    if (pc->open) { put_c(p->o, '"'); pc->open = 0; }
    put_s(p->o, "},\"");
    for (size_t k = 0; k < h->len; k++) esc(p->o, (unsigned char)h->delim[k]);
    put_s(p->o, h->dash ? "\",1," : "\",0,");
    put_s(p->o, terminated ? "true)" : "false)");
    pc->comma = 1;
}

static void pc_text(struct pp *p, struct pieces *pc, int c)
{
    int ev;
    if (!pc->open) {
        if (pc->comma) put_c(p->o, ',');
        put_c(p->o, '"');
        pc->open = 1;
        pc->comma = 0;
    }
    esc(p->o, c);
    if (c == '\n') {   /* end the item and continue on the next physical line */
        put_s(p->o, "\",\n");
        pc->open = 0;
    }
    ev = shctx_byte(&pc->sh, c);
    if (ev & SHCTX_END) hd_close(p, pc, &pc->sh.closed, 1);
    if (ev & SHCTX_START) hd_open(p, pc);
}

static void pc_end(struct pp *p, struct pieces *pc)
{
    const struct shctx_hdoc *h = shctx_open_body(&pc->sh);
    if (h) hd_close(p, pc, h, 0);
    if (pc->open) put_c(p->o, '"');
    put_s(p->o, "})");
}

enum { M_TOP, M_BRACE, M_WITH };
struct withinfo { size_t as_out, name, name_len; };
static int lua_code(struct pp *p, int mode, struct withinfo *w);

/* #{expr} at p->i -> _S.q(expr,"expr"); expr is Lua, so "}" inside strings is fine. */
static int interp(struct pp *p, struct pieces *pc)
{
    size_t open = p->i, a, b;
    int rc, nx, glued;
    const char *ctx, *why;
    p->i += 2;
    pc_sep(p, pc);
    put_s(p->o, "_S.q(");
    a = p->i;
    rc = lua_code(p, M_BRACE, NULL);
    if (rc) return rc < 0 ? -1 : fail(p, open, "unterminated #{ interpolation");
    b = p->i;
    while (a < b && is_space(at(p, a))) a++;
    while (b > a && is_space(at(p, b - 1))) b--;
    if (a == b) return fail(p, open, "empty #{} interpolation");
    nx = at(p, p->i + 1);
    glued = nx >= 0 && !strchr(" \t\r\n;&|()<>", nx) && !(p->block_level >= 0 && long_close(p, p->i + 1, p->block_level));
    ctx = shctx_interp(&pc->sh, glued, &why);
    if (!ctx) return fail(p, open, why);
    put_s(p->o, ",\"");
    for (; a < b; a++) esc(p->o, at(p, a));   /* the name for error messages: one line */
    put_c(p->o, '"');
    if (*ctx) { put_s(p->o, ",\""); put_s(p->o, ctx); put_c(p->o, '"'); }
    put_c(p->o, ')');
    p->i++;   /* the '}' */
    pc->comma = 1;
    return 0;
}

/* One byte of command text at p->i; CRLF counts as one: the shell gets plain newlines. */
static void cmd_byte(struct pp *p, struct pieces *pc)
{
    if (at(p, p->i) == '\r' && at(p, p->i + 1) == '\n') p->i++;
    pc_text(p, pc, at(p, p->i));
    p->i++;
}

/* One unit of command text at p->i: #{expr}, \#{ (a literal "#{"), \\ (kept, so that
   \\#{x} still interpolates), or a byte. */
static int cmd_text(struct pp *p, struct pieces *pc)
{
    size_t i = p->i;
    if (at(p, i) == '#' && at(p, i + 1) == '{') return interp(p, pc);
    if (at(p, i) == '\\' && at(p, i + 1) == '#' && at(p, i + 2) == '{') {
        pc_text(p, pc, '#');
        pc_text(p, pc, '{');
        p->i += 3;
        return 0;
    }
    if (at(p, i) == '\\' && at(p, i + 1) == '\\') cmd_byte(p, pc);
    cmd_byte(p, pc);
    return 0;
}

/* $[[ ... ]] at p->i, any level: one shell script. */
static int block(struct pp *p, int level)
{
    size_t open = p->i;
    struct pieces pc;
    char msg[256];
    int k = 0, outer_level = p->block_level;
    pc_init(&pc);
    p->block_level = level;
    p->i += level + 3;
    put_s(p->o, p->value_pos ? "_S.cap({" : "_S.run({");
    if (at(p, p->i) == '\r' && at(p, p->i + 1) == '\n') p->i++;
    if (at(p, p->i) == '\n') {   /* dropped as Lua does, but the line stays */
        p->i++;
        pc_sep(p, &pc);
        put_c(p->o, '\n');
    }
    while (p->i < p->n) {
        if (long_close(p, p->i, level)) {
            p->i += level + 2;
            pc_end(p, &pc);
            p->block_level = outer_level;
            return 0;
        }
        if (cmd_text(p, &pc)) return -1;
    }
    k = snprintf(msg, sizeof msg, "unterminated $[");
    for (int l = 0; l < level && k < 200; l++) msg[k++] = '=';
    snprintf(msg + k, sizeof msg - k, "[ block");
    return fail(p, open, msg);
}

static int sh_group(struct pp *p, struct pieces *pc, int keep_close);

/* A shell '...' or "..." at p->i.  Interpolation works in both (it is ours, not the
   shell's); inside "..." backslash escapes and $( ) nest.  1 if unclosed. */
static int sh_quoted(struct pp *p, struct pieces *pc)
{
    int q = at(p, p->i), rc;
    pc_text(p, pc, q);
    p->i++;
    while (p->i < p->n) {
        int c = at(p, p->i);
        if (c == q) {
            pc_text(p, pc, q);
            p->i++;
            return 0;
        }
        if (q == '"' && c == '\\' && !(at(p, p->i + 1) == '#' && at(p, p->i + 2) == '{')) {
            pc_text(p, pc, '\\');
            p->i++;
            if (p->i < p->n) cmd_byte(p, pc);
        } else if (q == '"' && c == '$' && at(p, p->i + 1) == '(') {
            pc_text(p, pc, '$');
            pc_text(p, pc, '(');
            p->i += 2;
            if ((rc = sh_group(p, pc, 1)) != 0) return rc;
        } else if (cmd_text(p, pc)) {
            return -1;
        }
    }
    return 1;
}

/* Shell words that leave the next word in command position (where 'case' and 'esac' count). */
static const char *const sh_lead[] = {"then", "do", "else", "elif", "if", "while", "until", NULL};

/* Shell text up to the ')' closing a group (p->i just past its '('), with quoting, nested
   parentheses and case patterns ("a)") as sh sees them.  0 with p->i past the ')';
   1 if unclosed. */
static int sh_group(struct pp *p, struct pieces *pc, int keep_close)
{
    int depth = 0, cmdpos = 1, ncase = 0, rc;
    int cases[16];   /* depth of each open 'case' */
    if (++p->nest > MAX_NEST) return fail(p, p->i, "commands nested too deeply");
    while (p->i < p->n) {
        int c = at(p, p->i);
        if (c == '\'' || c == '"') {
            if ((rc = sh_quoted(p, pc)) != 0) return rc;
            cmdpos = 0;
        } else if (c == '(') {
            pc_text(p, pc, c);
            p->i++;
            depth++;
            cmdpos = 1;
        } else if (c == ')') {
            p->i++;
            if (ncase && cases[ncase - 1] == depth) {   /* ends a case pattern */
                cmdpos = 1;
            } else if (depth == 0) {
                if (keep_close) pc_text(p, pc, c);
                p->nest--;
                return 0;
            } else {
                depth--;
                cmdpos = 0;
            }
            pc_text(p, pc, c);
        } else if (c == '\\' && !(at(p, p->i + 1) == '#' && at(p, p->i + 2) == '{')) {
            pc_text(p, pc, c);
            p->i++;
            if (p->i < p->n) cmd_byte(p, pc);
            cmdpos = 0;
        } else if (is_name0(c)) {
            size_t st = p->i, len;
            while (is_name(at(p, p->i))) pc_text(p, pc, at(p, p->i++));
            len = p->i - st;
            if (cmdpos && word_is(p, st, len, "case") && ncase < 16) cases[ncase++] = depth;
            else if (cmdpos && word_is(p, st, len, "esac") && ncase && cases[ncase - 1] == depth) ncase--;
            cmdpos = word_in(p, st, len, sh_lead);
        } else {
            if (cmd_text(p, pc)) return -1;
            if (c == ';' || c == '&' || c == '|' || c == '\n' || c == '\r' || c == '{' || c == '!') cmdpos = 1;
            else if (!is_blank(c)) cmdpos = 0;
        }
    }
    return 1;
}

/* $(cmd) or $?(cmd) at p->i. */
static int subst(struct pp *p, int test)
{
    size_t open = p->i;
    struct pieces pc;
    int rc, outer_level = p->block_level;
    pc_init(&pc);
    p->block_level = -1;
    p->i += test ? 3 : 2;
    put_s(p->o, test ? "_S.test({" : "_S.sub({");
    rc = sh_group(p, &pc, 0);
    if (rc) return rc < 0 ? -1 : fail(p, open, test ? "unterminated $?( ... )" : "unterminated $( ... )");
    pc_end(p, &pc);
    p->block_level = outer_level;
    return 0;
}

/* $ cmd args... : the rest of the line from 'start'.  A trailing backslash (an odd
   number of them) joins the next line with one space.  Blanks around the command
   stay outside it, as Lua whitespace. */
/* In a one-line block ("with cd(d) do $ git pull end", "function() $ ls end)") the
   trailing 'end's that close blocks opened on this line are Lua, not shell: returns where
   the command text stops (the line's end when there is no such tail). */
static size_t one_line_block_end(const struct pp *p, size_t start)
{
    size_t eol = start, cut;
    while (eol < p->n && p->s[eol] != '\n') eol++;
    if (p->line_open <= 0 || (eol > start && p->s[eol - 1] == '\\')) return eol;
    size_t k = eol;
    int ends = 0;
    cut = eol;
    for (;;) {
        while (k > start && strchr(")]},; \t\r", p->s[k - 1])) k--;
        if (ends >= p->line_open || k < start + 4 || memcmp(p->s + k - 3, "end", 3) != 0 ||
            !is_blank(p->s[k - 4]))
            break;
        k -= 3;
        ends++;
        cut = k;
        while (cut > start && is_blank(p->s[cut - 1])) cut--;
    }
    return ends ? cut : eol;
}

/* In a one-line "if c then $ a else $ b end", the 'else' or 'elseif' (a word of its own,
   outside shell quotes) ends the command as 'end' does: returns where the command stops. */
static size_t one_line_else(const struct pp *p, size_t start, size_t stop)
{
    int q = 0;
    if (p->line_open <= 0) return stop;
    for (size_t k = start; k < stop; k++) {
        int c = at(p, k);
        if (q) { if (c == q) q = 0; else if (c == '\\' && q == '"') k++; continue; }
        if (c == '\'' || c == '"') { q = c; continue; }
        if (c == '\\') { k++; continue; }
        if (k > start && is_blank(at(p, k - 1)) && c == 'e') {
            size_t e = k;
            while (is_name(at(p, e))) e++;
            if ((word_is(p, k, e - k, "else") || word_is(p, k, e - k, "elseif")) && (e >= stop || is_space(at(p, e)))) {
                while (k > start && is_blank(at(p, k - 1))) k--;
                return k;
            }
        }
    }
    return stop;
}

static int line_cmd(struct pp *p, size_t start)
{
    struct pieces pc;
    size_t ws = 0;
    int pend = 0;   /* blanks seen but not yet written: 1 = source bytes from ws, 2 = one space */
    size_t stop = one_line_else(p, start, one_line_block_end(p, start));
    int outer_level = p->block_level;
    pc_init(&pc);
    p->block_level = -1;
    p->i = start;
    put_s(p->o, p->value_pos ? "_S.cap({" : "_S.run({");
    while (p->i < p->n && at(p, p->i) != '\n' && !(stop < p->n && p->s[stop] != '\n' && p->i >= stop)) {
        int c = at(p, p->i);
        if (is_blank(c)) {
            if (!pend) { pend = 1; ws = p->i; }
            p->i++;
            continue;
        }
        if (c == '\\' && at(p, p->i + 1) != '#') {
            size_t j = p->i + 1;
            while (is_blank(at(p, j))) j++;
            if (at(p, j) == '\n') {   /* continuation */
                pc_sep(p, &pc);
                put_c(p->o, '\n');
                for (p->i = j + 1; is_blank(at(p, p->i)); p->i++) {}
                pend = 2;
                continue;
            }
        }
        if (pend == 1) for (; ws < p->i; ws++) pc_text(p, &pc, at(p, ws));
        if (pend == 2) pc_text(p, &pc, ' ');
        pend = 0;
        if (cmd_text(p, &pc)) return -1;   /* takes a \\ pair whole: it never continues */
    }
    if (pend == 1) p->i = ws;   /* trailing blanks (and a CR) are copied as Lua text */
    pc_end(p, &pc);
    p->block_level = outer_level;
    return 0;
}

/* Lua words that can follow an expression but cannot start an expression (or a command). */
static const char *const not_expr[] = {"and", "or", "then", "do", "end", "else", "elseif", "until", "in", NULL};

/* Does the text at k continue Lua after a value rather than start a command?  Used so
   that "{ last = $ }", "return $ end" and "r = $ -- note" mean the last result:
   no shell command starts with these. */
static int after_value(const struct pp *p, size_t k)
{
    int c = at(p, k);
    size_t e = k;
    if (c == ')' || c == ']' || c == '}' || c == ',' || c == ';') return 1;
    if (c == '-' && at(p, k + 1) == '-') return 1;
    while (is_name(at(p, e))) e++;
    return is_name0(c) && word_in(p, k, e - k, not_expr);
}

/* A '$' at p->i: one of the command forms, or the last result. */
static int dollar(struct pp *p)
{
    size_t i = p->i, k = i + 1;
    int level = long_open(p, i + 1);
    if (level >= 0) return block(p, level);
    if (at(p, i + 1) == '(') return subst(p, 0);
    if (at(p, i + 1) == '?' && at(p, i + 2) == '(') return subst(p, 1);
    while (at(p, k) == ' ' || at(p, k) == '\t') k++;
    if (k > i + 1 && k < p->n && !is_space(at(p, k)) && !after_value(p, k))
        return line_cmd(p, k);
    put_s(p->o, "_S.last()");
    p->i = i + 1;
    return 0;
}

/* with EXPR [as NAME] do -> do local NAME <close> = _S.with(EXPR)
   p->i is at EXPR; 'open' is where 'with' stands, for the error. */
static int with_stmt(struct pp *p, size_t open)
{
    struct buf *outer = p->o, e = {0};
    struct withinfo w = {0, 0, 0};
    size_t end, ex;
    char name[32];
    int rc;
    p->o = &e;
    rc = lua_code(p, M_WITH, &w);
    p->o = outer;
    if (rc) {
        free(e.p);
        return rc < 0 ? -1 : fail(p, open, "'with' without 'do'");
    }
    end = w.name_len ? w.as_out : e.n;
    for (ex = end; ex > 0 && (e.p[ex - 1] == ' ' || e.p[ex - 1] == '\t'); ex--) {}
    put_s(outer, "do local ");
    if (w.name_len) {
        put(outer, p->s + w.name, w.name_len);
    } else {
        snprintf(name, sizeof name, "_with%d", ++p->nwith);
        put_s(outer, name);
    }
    put_s(outer, " <close> = _S.with(");
    put(outer, e.p, ex);
    put_s(outer, ") ");
    for (size_t k = end; k < e.n; k++)   /* lines inside a dropped "as NAME" */
        if (e.p[k] == '\n') put_c(outer, '\n');
    if (e.oom) outer->oom = 1;
    free(e.p);
    return 0;
}

enum { T_NONE, T_NAME, T_PUNCT, T_VALUE };
struct tok { int kind; size_t at, len, out; };

static const char *const block_openers[] = {"do", "then", "function", "repeat", NULL};
static const char *const block_closers[] = {"end", "until", NULL};
static const char *const value_words[] = {"return", "and", "or", "not", "in", NULL};

/* Does a '$' after token prev stand where a value is expected (after '=', '(', ',', an
   operator, 'return' ...)? Then "$ cmd" captures quietly instead of showing its output. */
static int value_position(const struct pp *p, const struct tok *prev)
{
    if (prev->kind == T_PUNCT) return !strchr(")]};", p->s[prev->at]);
    if (prev->kind == T_NAME) return word_in(p, prev->at, prev->len, value_words);
    return 0;
}

/* Statement keywords cannot occur in a with's EXPR: a forgotten 'do' is reported at once. */
static const char *const with_stop[] = {"end", "then", "else", "elseif", "until", "local", "return", "if",
                                        "for", "while", "repeat", "goto", "break", "in", NULL};
static const char *const with_not_after[] = {"local", "function", "goto", NULL};

/* Is the name 'with' ending at e a with-statement?  Not after '.', ':', local, function
   or goto, and only if an expression (a name or '$') follows on the same line. */
static int with_starts(const struct pp *p, const struct tok *prev, size_t e)
{
    size_t k;
    if (prev->kind == T_PUNCT && prev->len == 1 && (p->s[prev->at] == '.' || p->s[prev->at] == ':')) return 0;
    if (prev->kind == T_NAME && word_in(p, prev->at, prev->len, with_not_after)) return 0;
    while (at(p, e) == ' ' || at(p, e) == '\t') e++;
    if (at(p, e) == '$') return 1;
    if (!is_name0(at(p, e))) return 0;
    for (k = e; is_name(at(p, k)); k++) {}
    return !word_in(p, e, k - e, not_expr);
}

/* Copies/translates Lua from p->i.  M_TOP: to the end.  M_BRACE: to the '}' closing a #{
   (p->i left on it).  M_WITH: past the 'do' at depth 0, filling *w.  Returns 0, -1 on an
   error already recorded, or 1 if the region did not end properly (the caller says why). */
static int lua_code(struct pp *p, int mode, struct withinfo *w)
{
    int depth = 0;
    struct tok prev = {T_NONE, 0, 0, 0}, prev2 = prev, t;
    if (++p->nest > MAX_NEST) return fail(p, p->i, "constructs nested too deeply");
    while (p->i < p->n) {
        size_t st = p->i, e = st + 1;
        int c = at(p, st), level;
        t.kind = T_PUNCT;
        t.at = st;
        t.out = p->o->n;
        if (c == '-' && at(p, st + 1) == '-') {   /* a comment is not a token */
            level = long_open(p, st + 2);
            if (level >= 0) e = skip_long(p, st + 2, level);
            else for (e = st; e < p->n && p->s[e] != '\n'; e++) {}
            copy(p, st, e);
            p->i = e;
            continue;
        }
        if (is_space(c)) {
            if (c == '\n') p->line_open = 0;
            put_c(p->o, c);
            p->i++;
            continue;
        }
        if (c == '\'' || c == '"') {
            e = skip_short(p, st);
            t.kind = T_VALUE;
        } else if ((level = long_open(p, st)) >= 0) {
            e = skip_long(p, st, level);
            t.kind = T_VALUE;
        } else if (is_digit(c) || (c == '.' && is_digit(at(p, st + 1)))) {
            e = skip_number(p, st);
            t.kind = T_VALUE;
        } else if (is_name0(c)) {
            for (e = st; is_name(at(p, e)); e++) {}
            t.kind = T_NAME;
            if (word_in(p, st, e - st, block_openers)) p->line_open++;
            else if (word_in(p, st, e - st, block_closers) && p->line_open > 0) p->line_open--;
            if (mode == M_WITH && depth == 0 && word_is(p, st, e - st, "do")) {
                w->as_out = p->o->n;
                if (prev.kind == T_NAME && prev2.kind == T_NAME && word_is(p, prev2.at, prev2.len, "as")) {
                    w->as_out = prev2.out;
                    w->name = prev.at;
                    w->name_len = prev.len;
                }
                p->i = e;
                p->nest--;
                return 0;
            }
            if (mode == M_WITH && depth == 0 && word_in(p, st, e - st, with_stop)) return 1;
            if (word_is(p, st, e - st, "with") && with_starts(p, &prev, e)) {
                for (p->i = e; at(p, p->i) == ' ' || at(p, p->i) == '\t'; p->i++) {}
                if (with_stmt(p, st)) return -1;
                p->line_open++;   /* its 'do' was consumed inside */
                e = p->i;
                t.kind = T_VALUE;   /* ends like 'do'; any 'with' after it may start another */
            }
        } else if (c == '$') {
            /* "return $(cmd)" would be a tail call, and an error in it would name the
               caller's line: parentheses make it an ordinary call. */
            int ret = prev.kind == T_NAME && word_is(p, prev.at, prev.len, "return");
            p->value_pos = value_position(p, &prev);
            if (ret) put_c(p->o, '(');
            if (dollar(p)) return -1;
            if (ret) put_c(p->o, ')');
            e = p->i;
            t.kind = T_VALUE;
        } else if (c == '(' || c == '{' || c == '[') {
            depth++;
        } else if (c == ')' || c == '}' || c == ']') {
            if (depth == 0 && mode == M_BRACE && c == '}') {
                p->nest--;
                return 0;
            }
            if (depth == 0 && mode == M_WITH) return 1;
            if (depth > 0) depth--;
        } else if (c == '.') {
            while (at(p, e) == '.') e++;
        }
        if (p->i == st) copy(p, st, e);   /* sugar has already written its output */
        p->i = e;
        t.len = e - st;
        prev2 = prev;
        prev = t;
    }
    p->nest--;
    return mode == M_TOP ? 0 : 1;
}

int pp_translate(const char *src, size_t len, struct pp_result *out)
{
    struct buf o = {0};
    struct pp p;
    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    p.s = src;
    p.n = len;
    p.o = &o;
    p.res = out;
    p.block_level = -1;
    put_s(&o, "local _S=_SSHS;");
    if (len && src[0] == '#') {   /* a shebang line becomes a comment */
        while (p.i < len && src[p.i] != '\n') p.i++;
        put_s(&o, "--");
        put(&o, src, p.i);
    }
    if (lua_code(&p, M_TOP, NULL) == 0 && o.oom) fail(&p, p.i, "out of memory");
    if (p.failed) {
        free(o.p);
        return -1;
    }
    out->lua = o.p;
    out->len = o.n;
    return 0;
}

void pp_result_free(struct pp_result *r)
{
    free(r->lua);
    r->lua = NULL;
    r->len = 0;
}
