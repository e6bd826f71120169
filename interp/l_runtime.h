/* The Lua-facing runtime: the `core` table of C primitives and the embedded Lua prelude. */
#ifndef SSHS_LSSHS_H
#define SSHS_LSSHS_H
#include <lua.h>

#define SSHS_MAX_SSH_OPTIONS 64

struct sshs_options {
    int verbose;          /* -v */
    int json;             /* --json */
    int gather;           /* -b */
    int fanout_limit;     /* -f */
    const char *hosts;    /* -H */
    const char *script;   /* the script's path, NULL for -e / stdin */
    /* Connection defaults for every connect (and -H): ssh -o style "Keyword=value" lines
       (-l, -p, --identity and -o all become one), and -F. */
    const char *ssh_options[SSHS_MAX_SSH_OPTIONS];
    int n_ssh_options;
    const char *ssh_config;   /* -F */
    const char *exclude[SSHS_MAX_SSH_OPTIONS];   /* -x (each a node set) */
    int n_exclude;
    const char *shard;        /* --shard I/N, N or auto */
    int repl;             /* enter the REPL (after the script with -i) */
    /* Rollouts and fleet output (with -H). */
    const char *batch;        /* --batch N or P% */
    const char *canary;       /* --canary N */
    const char *max_fail;     /* --max-fail N or P% */
    const char *output_dir;   /* --output-dir DIR */
    int list_hosts;           /* --list-hosts */
    const char *print_config; /* -G HOST: print the effective connection settings */
    int diff;                 /* --diff (with -b) */
    int jsonl;                /* --jsonl */
};

/* Opens the standard libraries, the scheduler, local commands, the remote layer and the
   prelude (which defines _SSHS and the globals of SPEC §2–§5). Raises on failure. */
void lsshs_open(lua_State *L, const struct sshs_options *opt);

#endif
