/* The shell's view of command text, fed byte by byte as the shell will read it: which
 * quoting is in force where a #{} stands, and where heredoc bodies begin and end.
 * The preprocessor uses it so that an interpolated value is escaped for its context
 * (a bare word, "...", '...', a heredoc body) and never read as shell syntax. */
#ifndef SSHS_SHCTX_H
#define SSHS_SHCTX_H

#include <stddef.h>

#define SHCTX_DEPTH 24   /* nested $( ) / quotes / ${ } deeper than this: #{} refuses */
#define SHCTX_HDOCS 4    /* heredocs started on one line */
#define SHCTX_DELIM 64   /* longest heredoc delimiter tracked */

struct shctx_frame {
    unsigned char kind;          /* SF_* in shctx.c */
    unsigned char esc;           /* the next byte is escaped by a backslash */
    unsigned char word;          /* CMD: inside a word (a '#' there is not a comment) */
    unsigned char comment;       /* CMD: inside a # comment */
    unsigned char cmdpos;        /* CMD: the next word is in command position */
    unsigned char subst;         /* CMD: opened by $( and ends at its ')' */
    unsigned char dollar;        /* the previous byte was an unescaped '$' */
    unsigned char in_quotes;     /* PARAM: the ${ } stands inside "..." or a heredoc */
    unsigned char ncase, wlen;
    unsigned char pure;          /* CMD: the word so far is all name bytes (may be a keyword) */
    unsigned char lastc;         /* CMD: the previous byte (for << and (( ) */
    unsigned char arith;         /* CMD: 1 + the depth of an open (( or $(( (no heredocs there) */
    unsigned char nameword;      /* CMD: the word so far is a shell name (a[ may follow) */
    unsigned char sub;           /* CMD, PARAM: depth of [ ] in a bash array subscript a[...] */
    int depth;                   /* CMD: open '(' ; PARAM: open '{' */
    unsigned char cases[8];      /* depth of each open 'case' */
    char wbuf[6];                /* the word being read, if short (for case/esac/then...) */
};

struct shctx_hdoc { char delim[SHCTX_DELIM + 1]; unsigned char len, quoted, dash; };

struct shctx {
    struct shctx_frame f[SHCTX_DEPTH];
    int nf;
    const char *unsure;          /* why the context is no longer known (then #{} refuses) */
    /* a heredoc operator being read: 0 none, 1 after "<<", 2 in the delimiter word */
    int hop, hq, hesc;
    struct shctx_hdoc hd_new;
    struct shctx_hdoc pend[SHCTX_HDOCS];
    int npend, body;             /* body: index in pend of the body being read, or -1 */
    char line[SHCTX_DELIM + 2];  /* the body line so far (for the delimiter test) */
    size_t llen;
    int ldirty;                  /* the line holds something other than literal text */
    struct shctx_hdoc closed;    /* the heredoc that SHCTX_END just closed */
};

enum { SHCTX_END = 1, SHCTX_START = 2 };

void shctx_init(struct shctx *sh);
/* Feeds one byte; returns SHCTX_END (a heredoc body ended with this newline; see ->closed)
   and/or SHCTX_START (a heredoc body starts after this byte). */
int shctx_byte(struct shctx *sh, int c);
/* The context for a #{} here: "" (a bare word), "g" (glued to a word), "c" (a # comment),
   "d" ("..."), "s" ('...'), "h" (unquoted heredoc body), "H" (quoted heredoc body), with
   "-" for a <<- body and "^" at a line start there.  NULL and *why when refused. */
const char *shctx_interp(struct shctx *sh, int glued_after, const char **why);
/* The heredoc body still open at the end of the command, or NULL. */
const struct shctx_hdoc *shctx_open_body(const struct shctx *sh);

#endif
