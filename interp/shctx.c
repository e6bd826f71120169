/* The shell's quoting context, tracked byte by byte over command text (see shctx.h).
 *
 * A stack of frames: CMD (plain shell text: the top level, a $( ) or an arithmetic
 * $(( ))), SQ '...', DQ "...", ANSI $'...', BQ `...`, PARAM ${...}, HD (an unquoted
 * heredoc body), HDQ (a quoted one).  It follows POSIX sh as dash and bash read it.
 * Whatever it cannot follow for certain (backticks, $'...', a ${ } inside quotes, a
 * heredoc inside a heredoc, very deep nesting) makes a later #{} an error, never a guess:
 * a wrong guess could let a value's bytes be read as shell syntax. */
#include "shctx.h"

#include <string.h>

enum { SF_CMD, SF_SQ, SF_DQ, SF_ANSI, SF_BQ, SF_PARAM, SF_HD, SF_HDQ };

/* bash reads $[ ... ] as arithmetic (dash as text): not followed, a later #{} refuses. */
#define BASH_OLD_ARITH "#{} after bash's old $[ ] arithmetic (write $(( )) instead)"

static int is_name(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Bytes that end a word in plain shell text. */
static int is_break(int c) { return c == ' ' || c == '\t' || c == '\n' || strchr(";&|()<>", c) != NULL; }

void shctx_init(struct shctx *sh)
{
    memset(sh, 0, sizeof *sh);
    sh->nf = 1;
    sh->f[0].kind = SF_CMD;
    sh->f[0].cmdpos = 1;
    sh->body = -1;
}

static struct shctx_frame *push(struct shctx *sh, int kind)
{
    struct shctx_frame *f;
    if (sh->nf >= SHCTX_DEPTH) {
        if (!sh->unsure) sh->unsure = "the command nests quotes and substitutions too deeply here";
        return NULL;
    }
    f = &sh->f[sh->nf++];
    memset(f, 0, sizeof *f);
    f->kind = (unsigned char)kind;
    f->cmdpos = 1;
    return f;
}

/* ${ : pure and wlen track its leading name, so that ${a[ is known as a subscript. */
static void push_param(struct shctx *sh, int in_quotes)
{
    struct shctx_frame *g = push(sh, SF_PARAM);
    if (g) { g->in_quotes = (unsigned char)in_quotes; g->pure = 1; }
}

static void pop(struct shctx *sh)
{
    if (sh->nf > 1) sh->nf--;
    sh->f[sh->nf - 1].word = 1;    /* a quote or $( ) that ended is part of a word */
    sh->f[sh->nf - 1].dollar = 0;
    sh->f[sh->nf - 1].esc = 0;
    if (sh->body >= 0) sh->ldirty = 1;
}

static const char *const lead[] = {"then", "do", "else", "elif", "if", "while", "until", NULL};

/* A byte that belongs to a word in a CMD frame; a word of name bytes may be a keyword. */
static void word_byte(struct shctx_frame *f, int c)
{
    if (!f->word) { f->word = 1; f->wlen = 0; f->pure = 1; f->nameword = !(c >= '0' && c <= '9'); }
    if (!is_name(c)) f->nameword = 0;
    if (f->pure && is_name(c) && f->wlen < sizeof f->wbuf) f->wbuf[f->wlen++] = (char)c;
    else f->pure = 0;
}

/* The word ends: 'case' and 'esac' in command position open and close case patterns. */
static void word_end(struct shctx_frame *f)
{
    int lead_word = 0;
    if (!f->word) return;
    f->word = 0;
    f->sub = 0;
    if (f->pure && f->cmdpos) {
        if (f->wlen == 4 && memcmp(f->wbuf, "case", 4) == 0 && f->ncase < sizeof f->cases)
            f->cases[f->ncase++] = (unsigned char)f->depth;
        else if (f->wlen == 4 && memcmp(f->wbuf, "esac", 4) == 0 && f->ncase && f->cases[f->ncase - 1] == f->depth)
            f->ncase--;
        for (int k = 0; lead[k]; k++)
            if (strlen(lead[k]) == f->wlen && memcmp(f->wbuf, lead[k], f->wlen) == 0) lead_word = 1;
    }
    f->cmdpos = (unsigned char)lead_word;
}

/* A byte of a heredoc operator's delimiter word (sh->hop == 2).  1 when the word ended
   before c (c is then handled as usual). */
static int hdoc_word(struct shctx *sh, int c)
{
    struct shctx_hdoc *h = &sh->hd_new;
    if (sh->hq) {
        if (c == sh->hq) sh->hq = 0;
        else goto add;
        return 0;
    }
    if (sh->hesc) { sh->hesc = 0; goto add; }
    if (c == '\\') { sh->hesc = 1; h->quoted = 1; return 0; }
    if (c == '\'' || c == '"') { sh->hq = c; h->quoted = 1; return 0; }
    if (is_break(c)) {
        sh->hop = 0;
        if (sh->npend >= SHCTX_HDOCS) {
            if (!sh->unsure) sh->unsure = "too many heredocs on one line";
        } else if (!sh->unsure) {
            sh->pend[sh->npend++] = *h;
        }
        return 1;
    }
add:
    if (h->len >= SHCTX_DELIM) {
        if (!sh->unsure) sh->unsure = "a heredoc delimiter is too long to follow";
        return 0;
    }
    h->delim[h->len++] = (char)c;
    h->delim[h->len] = '\0';
    return 0;
}

static void start_body(struct shctx *sh, int idx)
{
    struct shctx_frame *f = push(sh, sh->pend[idx].quoted ? SF_HDQ : SF_HD);
    if (!f) return;
    sh->body = idx;
    sh->llen = 0;
    sh->ldirty = 0;
}

/* A newline in a body frame: is the line just read the delimiter? */
static int body_newline(struct shctx *sh)
{
    const struct shctx_hdoc *h = &sh->pend[sh->body];
    const char *l = sh->line;
    size_t n = sh->llen;
    int ev = 0;
    if (h->dash) while (n && *l == '\t') { l++; n--; }
    if (!sh->ldirty && n == h->len && memcmp(l, h->delim, n) == 0) {
        sh->closed = *h;
        ev = SHCTX_END;
        sh->nf--;                       /* the body frame */
        if (sh->body + 1 < sh->npend) {
            start_body(sh, sh->body + 1);
            ev |= SHCTX_START;
        } else {
            sh->body = -1;
            sh->npend = 0;
        }
    }
    sh->llen = 0;
    sh->ldirty = 0;
    return ev;
}

static int cmd_byte(struct shctx *sh, struct shctx_frame *f, int c)
{
    int dollar = f->dollar, prev = f->lastc;
    f->dollar = 0;
    f->lastc = (unsigned char)c;
    if (f->esc) {                               /* \x, or \<newline>: a continuation */
        f->esc = 0;
        if (c != '\n') word_byte(f, c);
        return 0;
    }
    if (f->comment) {
        if (c != '\n') return 0;
        f->comment = 0;
    }
    if (sh->hop == 1 || sh->hop == 3) {         /* after "<<": '-', blanks, then the word */
        if (c == '<' && sh->hop == 1) { sh->hop = 0; return 0; }              /* <<< */
        if (c == '-' && sh->hop == 1) { sh->hd_new.dash = 1; sh->hop = 3; return 0; }
        if (c == ' ' || c == '\t') { sh->hop = 3; return 0; }
        if (is_break(c)) {
            sh->hop = 0;
            if (!sh->unsure) sh->unsure = "a heredoc operator without a delimiter";
        } else {
            sh->hop = 2;
        }
    }
    if (sh->hop == 2 && !hdoc_word(sh, c)) return 0;
    if (dollar && c == '(') {                   /* $( or $(( */
        struct shctx_frame *g = push(sh, SF_CMD);
        if (g) { g->subst = 1; g->lastc = '('; }
        return 0;
    }
    if (dollar && c == '{') { push_param(sh, 0); return 0; }
    if (is_break(c)) word_end(f);
    switch (c) {
    case '\\': word_byte(f, c); f->esc = 1; return 0;
    case '\'': word_byte(f, c); push(sh, dollar ? SF_ANSI : SF_SQ); return 0;
    case '"': word_byte(f, c); push(sh, SF_DQ); return 0;
    case '`': word_byte(f, c); push(sh, SF_BQ); return 0;
    case '$': word_byte(f, c); f->dollar = !dollar; return 0;   /* $$ is one parameter */
    case '[':
        if (dollar && !sh->unsure) sh->unsure = BASH_OLD_ARITH;
        else if (f->sub) f->sub++;
        else if (f->word && f->nameword) f->sub = 1;   /* name[ : bash's a[i]=v, unset a[i], ... */
        word_byte(f, c);
        return 0;
    case ']':
        if (f->sub) f->sub--;
        word_byte(f, c);
        return 0;
    case '#':
        if (!f->word && !f->arith) f->comment = 1;   /* no comments in arithmetic: 16#ff */
        else word_byte(f, c);
        return 0;
    case '{': case '!':
        if (!f->word) { f->cmdpos = 1; return 0; }   /* a group or a negation: a command follows */
        word_byte(f, c);
        return 0;
    case '(':
        if (!f->arith && prev == '(') f->arith = (unsigned char)(f->depth + 1);   /* (( or $(( : arithmetic */
        f->depth++;
        f->cmdpos = 1;
        return 0;
    case ')':
        if (f->ncase && f->cases[f->ncase - 1] == f->depth) { f->cmdpos = 1; return 0; }   /* a) in case */
        if (f->depth == 0) {
            if (f->subst) pop(sh);
            return 0;
        }
        f->depth--;
        if (f->arith > f->depth) f->arith = 0;
        return 0;
    case '<':
        if (prev == '<' && !f->arith && sh->hop == 0) {
            for (int k = 1; k < sh->nf; k++)
                if (sh->f[k].kind != SF_CMD && !sh->unsure) sh->unsure = "a heredoc inside a heredoc or quotes";
            sh->hop = 1;
            memset(&sh->hd_new, 0, sizeof sh->hd_new);
            sh->hq = sh->hesc = 0;
            f->lastc = 0;
        }
        return 0;
    case '\n':
        f->cmdpos = 1;
        if (sh->npend && sh->body < 0 && !sh->unsure) {
            start_body(sh, 0);
            return SHCTX_START;
        }
        return 0;
    case ';': case '&': case '|':
        f->cmdpos = 1;
        return 0;
    case ' ': case '\t': case '>':
        return 0;
    default:
        word_byte(f, c);
        return 0;
    }
}

int shctx_byte(struct shctx *sh, int c)
{
    struct shctx_frame *f = &sh->f[sh->nf - 1];
    int dollar = f->dollar, ev = 0;
    if (sh->body >= 0) {                        /* the body line, for the delimiter test */
        if (f->kind != SF_HD && f->kind != SF_HDQ) {
            if (c != '\n') sh->ldirty = 1;
        } else if (c != '\n') {
            if (sh->llen < sizeof sh->line - 1) sh->line[sh->llen++] = (char)c;
            else sh->ldirty = 1;
        }
    }
    if (f->kind == SF_CMD) return cmd_byte(sh, f, c);
    f->dollar = 0;
    if (f->esc) { f->esc = 0; return 0; }
    switch (f->kind) {
    case SF_SQ:
        if (c == '\'') pop(sh);
        return 0;
    case SF_ANSI:
    case SF_BQ:
        if (c == '\\') f->esc = 1;
        else if (c == (f->kind == SF_BQ ? '`' : '\'')) pop(sh);
        return 0;
    case SF_HDQ:
        if (c == '\n') ev = body_newline(sh);
        return ev;
    case SF_DQ:
    case SF_HD:
    case SF_PARAM:
        if (c == '\\') { f->esc = 1; return 0; }
        if (c == '$') { f->dollar = !dollar; return 0; }
        if (c == '`') { push(sh, SF_BQ); return 0; }
        if (c == '[' && dollar && !sh->unsure) sh->unsure = BASH_OLD_ARITH;
        if (c == '(' && dollar) {
            struct shctx_frame *g = push(sh, SF_CMD);
            if (g) { g->subst = 1; g->lastc = '('; }
            return 0;
        }
        if (c == '{' && dollar) {
            push_param(sh, f->kind != SF_PARAM || f->in_quotes);
            return 0;
        }
        if (f->kind == SF_DQ) {
            if (c == '"') pop(sh);
        } else if (f->kind == SF_HD) {
            if (c == '\n') ev = body_newline(sh);
        } else {                                /* PARAM */
            if (f->sub) {                       /* ${a[...]}: bash's array subscript */
                if (c == '[') f->sub++;
                else if (c == ']') f->sub--;
            } else if (c == '[' && f->pure && f->wlen) {
                f->sub = 1;
            }
            if (f->pure && is_name(c)) f->wlen = 1;   /* the name, after any # or ! */
            else if (!(f->pure && !f->wlen && (c == '#' || c == '!'))) f->pure = 0;
            if (c == '{') f->depth++;
            else if (c == '}' && f->depth == 0) pop(sh);
            else if (c == '}') f->depth--;
            else if (!f->in_quotes && c == '\'') push(sh, SF_SQ);
            else if (!f->in_quotes && c == '"') push(sh, SF_DQ);
        }
        return ev;
    }
    return 0;
}

/* Is the text here shell arithmetic ($(( )), (( )), a bash array subscript ${a[...]} or
   a[...]=), or inside quotes or a ${ } within it?
   There the shell expands $( ) even inside '...' and bash evaluates a[...] subscripts, so no
   quoting keeps a value's bytes inert.  A $( ) or a heredoc body starts afresh. */
static int in_arith(const struct shctx *sh)
{
    for (int k = sh->nf - 1; k >= 0; k--) {
        const struct shctx_frame *f = &sh->f[k];
        if (f->kind == SF_HD || f->kind == SF_HDQ) return 0;
        if ((f->kind == SF_CMD || f->kind == SF_PARAM) && f->sub) return 1;
        if (f->kind == SF_CMD && (f->arith || f->subst)) return f->arith != 0;
    }
    return 0;
}

const char *shctx_interp(struct shctx *sh, int glued_after, const char **why)
{
    struct shctx_frame *f = &sh->f[sh->nf - 1];
    int at_start = !sh->ldirty;   /* only tabs before it on the line: <<- strips the value's own */
    for (size_t k = 0; k < sh->llen; k++)
        if (sh->line[k] != '\t') at_start = 0;
    const char *ctx = NULL;
    *why = NULL;
    if (sh->unsure) { *why = sh->unsure; return NULL; }
    if (sh->hop) { *why = "#{} cannot be a heredoc delimiter"; return NULL; }
    if (f->dollar) {
        *why = "#{} right after a '$' (the shell would read the value as $(...), $'...' or a "
               "variable name): write \\$#{...} for a literal '$'";
        return NULL;
    }
    if (f->kind != SF_ANSI && f->kind != SF_BQ && !(f->kind == SF_CMD && (f->esc || f->comment)) && in_arith(sh)) {
        if (f->kind == SF_CMD) word_byte(f, '#');
        return "a";
    }
    switch (f->kind) {
    case SF_CMD:
        if (f->esc) { *why = "#{} right after a backslash"; return NULL; }
        if (f->comment) return "c";
        ctx = f->word || glued_after ? "g" : "";
        word_byte(f, '#');    /* the value is (part of) a word, and no keyword */
        f->lastc = 0;
        return ctx;
    case SF_SQ: return "s";
    case SF_DQ:
        if (f->esc) { *why = "#{} right after a backslash"; return NULL; }
        return "d";
    case SF_ANSI: *why = "#{} inside $'...' (use plain '...' or \"...\")"; return NULL;
    case SF_BQ: *why = "#{} inside `...` backquotes (use $( ) instead)"; return NULL;
    case SF_PARAM:
        if (f->in_quotes) { *why = "#{} inside a ${...} in quotes or a heredoc"; return NULL; }
        return "g";
    case SF_HD:
    case SF_HDQ:
        if (f->esc) { *why = "#{} right after a backslash"; return NULL; }
        sh->ldirty = 1;
        if (!sh->pend[sh->body].dash) return f->kind == SF_HD ? "h" : "H";
        if (f->kind == SF_HD) return at_start ? "h-^" : "h-";
        return at_start ? "H-^" : "H-";
    }
    *why = "#{} in an unknown shell context";
    return NULL;
}

const struct shctx_hdoc *shctx_open_body(const struct shctx *sh)
{
    return sh->body >= 0 ? &sh->pend[sh->body] : NULL;
}
