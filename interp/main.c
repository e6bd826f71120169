/* sshs: command line, the Lua state, the main chunk run as a thread, the exit status. */
#include "bigstr.h"
#include "small_alloc.h"
#include "l_runtime.h"
#include "output.h"
#include "loader.h"
#include "scheduler.h"
#include "local.h"
#include "l_remote.h"
#include "l_files.h"
#include "l_forward.h"
#include "sshmod.h"
#include "repl.h"
#include "l_pty.h"
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SSHS_VERSION "0.1.0"

/* Exit statuses (docs/reference/fleet.md, "Exit status of -H"; sshs.1): with -H, 1 = some host
   failed, 3 = hosts were unreachable and none failed, 4 = the failure budget stopped the
   rollout (set in _fleet.lua). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

struct args {
    struct sshs_options opt;
    const char *chunk;       /* -e */
    int emit_lua, check_only, interactive, summary;
    int script_idx;          /* argv index of the script (or argc) */
    int argc;
    char **argv;
};

/* After a usage error's one line, instead of the whole help. */
#define USAGE_HINT "Try 'sshs --help' for more information.\n"

/* The libssh2 version comes from the SSH module (loaded for it); when the module cannot be
   loaded, why (sshs still runs local scripts then). */
static void print_version(void)
{
    char err[PATH_MAX + 256];
    const struct ssh_api *api = sshmod_load(err, sizeof err);
    printf("sshs %s (%s, %s)\n", SSHS_VERSION, LUA_RELEASE, api ? api->algs_library_version() : err);
}

static void usage(FILE *f)
{
    fputs("usage: sshs [options] [script [args...]]\n"
          "       sshs [options] -e 'chunk' [args...]\n"
          "  -e CHUNK     run CHUNK (sugar allowed) instead of a script\n"
          "  -H HOSTS     run the script once per host: a node set (web[01-20]!web07,db1),\n"
          "               @group of an inventory, or @file\n"
          "  -f N         at most N hosts at once (default 64)\n"
          "  -b           gather hosts whose output is identical (with -H)\n"
          "  -i           enter the REPL after the script\n"
          "  -v           echo each command and its output, prefixed by host; tracebacks on errors\n"
          "  -x HOSTS     leave these hosts out of -H (node set, @group or @file)\n"
          "  -l USER      default user for every connection (as ssh -l)\n"
          "  -p PORT      default port for every connection (as ssh -p)\n"
          "  --identity KEY  private key to try first (as ssh -i; -i is the REPL)\n"
          "  -o KEY=VALUE an ssh_config option for every connection (as ssh -o)\n"
          "  -F FILE      read FILE instead of ~/.ssh/config (as ssh -F)\n"
          "  -G HOST      print the settings a connection to HOST would use (as ssh -G) and exit\n"
          "  --inventory [NAME=]FILE  Ansible-style INI inventory for @group (repeatable)\n"
          "  --json       one JSON object per host outcome on stdout (with -H)\n"
          "  --shard I/N  run only the I-th of N slices of the -H hosts (N alone or 'auto':\n"
          "               I from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)\n"
          "  --summary FILE...  the fleet summary of --json outputs (shards concatenate)\n"
          "  --list-hosts print the hosts -H would run on (after -x and --shard) and exit\n"
          "  --batch N|P% run -H hosts in batches of N (or P% of them), one batch after another\n"
          "  --canary N   run the first N hosts alone first; a failed canary stops the run\n"
          "  --max-fail N|P%  stop starting hosts once more than N (P%) have failed\n"
          "  --output-dir DIR  write each host's output to DIR/HOST.stdout and DIR/HOST.stderr\n"
          "  --diff       with -b: outputs that differ from the most common one, as unified diffs\n"
          "  --jsonl      stream one JSON event per line (host started, output line, host ended)\n"
          "  --emit-lua   print the translated Lua and exit\n"
          "  --check      parse only; report syntax errors\n"
          "  --version, --help\n"
          "exit status: 0 all succeeded, 1 a host (or the script) failed, 2 usage error,\n"
          "  3 hosts unreachable (none failed), 4 stopped by the failure budget, 130 interrupted\n"
          "@last:failed, @last:unreachable, @last:ok, @last:skipped name the hosts of the last run\n", f);
}

/* Strings made while parsing (ssh_config lines, the inventory list), freed at exit. */
static char *owned[2 * SSHS_MAX_SSH_OPTIONS + 2];
static int n_owned;

static char *own(char *s)
{
    if (s && n_owned < (int)(sizeof owned / sizeof *owned)) owned[n_owned++] = s;
    return s;
}

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    if (!s) { fputs("sshs: out of memory\n", stderr); exit(EXIT_FAIL); }
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

/* -l, -p, --identity and -o become ssh_config lines read before the config file. */
static int add_ssh_option(struct args *a, const char *flag, const char *key, const char *v)
{
    if (a->opt.n_ssh_options >= SSHS_MAX_SSH_OPTIONS) {
        fprintf(stderr, "sshs: too many connection options (at most %d)\n", SSHS_MAX_SSH_OPTIONS);
        return -1;
    }
    if (!*v) { fprintf(stderr, "sshs: %s needs a non-empty value\n", flag); return -1; }
    if (key && strcmp(key, "Port=") == 0) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 65535) { fprintf(stderr, "sshs: -p needs a port from 1 to 65535, got '%s'\n", v); return -1; }
    }
    const char *text = v;
    if (key) {    /* escaped as a config line needs, so a key path with spaces survives */
        char *t = own(malloc(strlen(key) + 2 * strlen(v) + 1)), *d;
        if (!t) { fputs("sshs: out of memory\n", stderr); return -1; }
        d = t + strlen(strcpy(t, key));
        for (; *v; v++) {
            if (strchr("\\\"' ", *v)) *d++ = '\\';
            *d++ = *v;
        }
        *d = '\0';
        text = t;
    }
    a->opt.ssh_options[a->opt.n_ssh_options++] = text;
    return 0;
}

/* --inventory adds to SSHS_INVENTORY (the one place inventories are named, so child sshs
   processes see the same groups). */
static void add_inventory(const char *v, int first)
{
    const char *old = first ? NULL : getenv("SSHS_INVENTORY");
    char *joined = concat3(old ? old : "", old && *old ? ":" : "", v);
    setenv("SSHS_INVENTORY", joined, 1);
    free(joined);
}

static int parse_args(int argc, char **argv, struct args *a)
{
    int inventories = 0;
    memset(a, 0, sizeof *a);
    a->opt.fanout_limit = 64;
    a->argc = argc;
    a->argv = argv;
    int i = 1;
    for (; i < argc; i++) {
        const char *s = argv[i];
        if (s[0] != '-' || strcmp(s, "-") == 0) break;
        if (strcmp(s, "--") == 0) { i++; break; }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) { usage(stdout); exit(EXIT_OK); }
        if (strcmp(s, "--version") == 0) { print_version(); exit(EXIT_OK); }
        if (strcmp(s, "--emit-lua") == 0) { a->emit_lua = 1; continue; }
        if (strcmp(s, "--check") == 0) { a->check_only = 1; continue; }
        if (strcmp(s, "--json") == 0) { a->opt.json = 1; continue; }
        if (strcmp(s, "-v") == 0) { a->opt.verbose = 1; continue; }
        if (strcmp(s, "-i") == 0) { a->interactive = a->opt.repl = 1; continue; }
        if (strcmp(s, "-b") == 0) { a->opt.gather = 1; continue; }
        if (strcmp(s, "--list-hosts") == 0) { a->opt.list_hosts = 1; continue; }
        if (strcmp(s, "--diff") == 0) { a->opt.diff = 1; continue; }
        if (strcmp(s, "--jsonl") == 0) { a->opt.jsonl = 1; continue; }
        if (strcmp(s, "--summary") == 0) { a->summary = 1; i++; break; }
        if (strcmp(s, "-l") == 0 || strcmp(s, "-p") == 0 || strcmp(s, "-o") == 0 || strcmp(s, "-F") == 0 ||
            strcmp(s, "-x") == 0 || strcmp(s, "--identity") == 0 || strcmp(s, "--inventory") == 0 ||
            strcmp(s, "--shard") == 0 || strcmp(s, "--batch") == 0 || strcmp(s, "--canary") == 0 ||
            strcmp(s, "--max-fail") == 0 || strcmp(s, "--output-dir") == 0 || strcmp(s, "-G") == 0) {
            if (i + 1 >= argc) { fprintf(stderr, "sshs: %s needs an argument\n", s); return -1; }
            const char *v = argv[++i];
            int r = 0;
            if (strcmp(s, "-l") == 0) r = add_ssh_option(a, s, "User=", v);
            else if (strcmp(s, "-p") == 0) r = add_ssh_option(a, s, "Port=", v);
            else if (strcmp(s, "--identity") == 0) r = add_ssh_option(a, s, "IdentityFile=", v);
            else if (strcmp(s, "-o") == 0) r = add_ssh_option(a, s, NULL, v);
            else if (strcmp(s, "-F") == 0) a->opt.ssh_config = v;
            else if (strcmp(s, "-G") == 0) a->opt.print_config = v;
            else if (strcmp(s, "--shard") == 0) a->opt.shard = v;
            else if (strcmp(s, "--batch") == 0) a->opt.batch = v;       /* checked in _fleet.lua */
            else if (strcmp(s, "--canary") == 0) a->opt.canary = v;
            else if (strcmp(s, "--max-fail") == 0) a->opt.max_fail = v;
            else if (strcmp(s, "--output-dir") == 0) a->opt.output_dir = v;
            else if (strcmp(s, "--inventory") == 0) add_inventory(v, inventories++ == 0);
            else if (a->opt.n_exclude < SSHS_MAX_SSH_OPTIONS) a->opt.exclude[a->opt.n_exclude++] = v;
            else { fprintf(stderr, "sshs: too many -x options\n"); r = -1; }
            if (r) return r;
            continue;
        }
        if (strcmp(s, "-e") == 0 || strcmp(s, "-H") == 0 || strcmp(s, "-f") == 0) {
            if (i + 1 >= argc) { fprintf(stderr, "sshs: %s needs an argument\n", s); return -1; }
            const char *v = argv[++i];
            if (s[1] == 'e') a->chunk = v;
            else if (s[1] == 'H') a->opt.hosts = v;
            else {
                char *end;
                long n = strtol(v, &end, 10);
                if (*end || n < 1 || n > 100000) { fprintf(stderr, "sshs: -f needs a number from 1 to 100000, got '%s'\n", v); return -1; }
                a->opt.fanout_limit = (int)n;
            }
            continue;
        }
        fprintf(stderr, "sshs: unknown option '%s'\n", s);
        return -1;
    }
    a->script_idx = i;
    if (a->summary) {
        if (i >= argc) { fprintf(stderr, "sshs: --summary needs one or more --json output files\n"); return -1; }
        return 0;
    }
    if (!a->chunk && i < argc) a->opt.script = argv[i];
    if (a->opt.shard && !a->opt.hosts) { fprintf(stderr, "sshs: --shard needs -H HOSTS\n"); return -1; }
    if (a->opt.n_exclude && !a->opt.hosts) { fprintf(stderr, "sshs: -x needs -H HOSTS\n"); return -1; }
    const char *fleet_only = a->opt.list_hosts ? "--list-hosts" : a->opt.batch ? "--batch" :
        a->opt.canary ? "--canary" : a->opt.max_fail ? "--max-fail" : a->opt.output_dir ? "--output-dir" :
        a->opt.jsonl ? "--jsonl" : a->opt.diff ? "--diff" : NULL;
    if (fleet_only && !a->opt.hosts) { fprintf(stderr, "sshs: %s needs -H HOSTS\n", fleet_only); return -1; }
    if (a->opt.diff && !a->opt.gather) { fprintf(stderr, "sshs: --diff needs -b\n"); return -1; }
    if (a->opt.diff && a->opt.json) { fprintf(stderr, "sshs: --diff cannot be combined with --json\n"); return -1; }
    if (a->opt.jsonl && (a->opt.json || a->opt.gather)) {
        fprintf(stderr, "sshs: --jsonl cannot be combined with %s\n", a->opt.json ? "--json" : "-b");
        return -1;
    }
    return 0;
}

/* Loads the script, the -e chunk or stdin. Pushes the function or an error message. */
static int load_main(lua_State *L, struct args *a)
{
    if (a->chunk) return loader_loadbuffer(L, a->chunk, strlen(a->chunk), "=(command line)", 1);
    if (a->opt.script && strcmp(a->opt.script, "-") != 0) return loader_loadfile(L, a->opt.script);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0) luaL_addlstring(&b, tmp, n);
    luaL_pushresult(&b);
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    int status = loader_loadbuffer(L, src, len, "=stdin", 1);
    lua_remove(L, -2);
    return status;
}

/* --emit-lua: prints the translation (the sugar only, no Lua syntax check). */
static int emit_lua(lua_State *L, struct args *a)
{
    sched_push_runtime(L);
    lua_getfield(L, -1, "read_source");
    lua_pushstring(L, a->chunk ? NULL : a->opt.script);
    lua_pushstring(L, a->chunk);
    lua_call(L, 2, 3);
    if (lua_isnil(L, -3)) {
        fprintf(stderr, "sshs: %s\n", lua_tostring(L, -1));
        return EXIT_FAIL;
    }
    size_t n;
    const char *s = lua_tolstring(L, -3, &n);
    fwrite(s, 1, n, stdout);
    return EXIT_OK;
}

/* The message an uncaught error shows: its text, plus tracebacks with -v / SSHS_TRACEBACK. */
static void report_error(lua_State *L, int verbose, const char *what)
{
    int err = lua_gettop(L);
    sched_push_runtime(L);
    lua_getfield(L, -1, "error_text");
    lua_pushvalue(L, err);
    lua_pushboolean(L, verbose);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_isstring(L, -1)) {
        lua_settop(L, err);
        fprintf(stderr, "sshs: %s\n", luaL_tolstring(L, err, NULL));
    } else {
        fprintf(stderr, "%s%s\n", what, lua_tostring(L, -1));
    }
    lua_settop(L, err - 1);
}

static int pmain(lua_State *L)
{
    struct args *a = lua_touserdata(L, 1);
    int *exit_status = lua_touserdata(L, 2);
    int verbose = a->opt.verbose || (getenv("SSHS_TRACEBACK") && *getenv("SSHS_TRACEBACK") != '0');

    if (!a->chunk && !a->opt.script && isatty(0) && !a->emit_lua && !a->check_only && !a->summary)
        a->opt.repl = 1;
    lsshs_open(L, &a->opt);
    lua_gc(L, LUA_GCRESTART);           /* stopped in main while the state is built */
    /* All of it lives as long as the state, so the first cycle waits, as Lua's collector
       does after each cycle, until the script has allocated as much again: a step of minus
       that many KB (Lua adds a step's size to its debt) is that credit. Else the first
       allocation of every run started a cycle (45 k instructions of marking). */
    lua_gc(L, LUA_GCSTEP, -lua_gc(L, LUA_GCCOUNT));

    if (a->summary) {                   /* sshs --summary FILE...: no script, no connections */
        sched_push_runtime(L);
        lua_getfield(L, -1, "builtin");
        lua_pushliteral(L, "_fleet");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "summary_files");
        lua_createtable(L, a->argc - a->script_idx, 0);
        for (int i = a->script_idx; i < a->argc; i++) {
            lua_pushstring(L, a->argv[i]);
            lua_rawseti(L, -2, i - a->script_idx + 1);
        }
        lua_call(L, 1, 1);
        *exit_status = (int)luaL_optinteger(L, -1, EXIT_FAIL);
        return 0;
    }

    /* No script on a terminal: the REPL (with -H: the fleet REPL). */
    int repl_only = a->opt.repl && !a->interactive;
    if (a->emit_lua) { *exit_status = emit_lua(L, a); return 0; }

    /* arg: as lua.c builds it: arg[0] the script, arg[1..] its arguments. */
    int first = a->chunk ? a->script_idx : a->script_idx + 1;
    lua_createtable(L, a->argc, 1);
    for (int i = 0; i < a->argc; i++) {
        lua_pushstring(L, a->argv[i]);
        lua_rawseti(L, -2, i - first + 1);
    }
    if (a->chunk) { lua_pushstring(L, "-e"); lua_rawseti(L, -2, 0); }
    lua_setglobal(L, "arg");

    if (repl_only || a->opt.list_hosts || a->opt.print_config) {
        lua_pushnil(L);                 /* no chunk: the runtime starts the REPL alone */
    } else if (load_main(L, a) != LUA_OK) {
        fprintf(stderr, "sshs: %s\n", lua_tostring(L, -1));
        *exit_status = EXIT_FAIL;
        return 0;
    }
    if (a->check_only) { *exit_status = EXIT_OK; return 0; }

    /* Hand the chunk to the runtime: it runs it as the main thread (once, or once per host). */
    sched_push_runtime(L);
    lua_getfield(L, -1, "start_main");
    lua_pushvalue(L, -3);
    int nargs = 0;
    for (int i = first; i < a->argc; i++, nargs++) lua_pushstring(L, a->argv[i]);
    lua_call(L, 1 + nargs, 1);          /* pushes the main thread's handle */
    sched_set_main(L);

    int unobserved = sched_run(L);
    if (sched_main_error(L)) {
        if (!sched_interrupted()) report_error(L, verbose, "");
        *exit_status = sched_interrupted() ? EXIT_INTERRUPTED : EXIT_FAIL;
    } else if (sched_interrupted()) {
        *exit_status = EXIT_INTERRUPTED;
    } else {
        sched_push_runtime(L);
        lua_getfield(L, -1, "exit_status");
        lua_call(L, 0, 1);
        *exit_status = (int)luaL_optinteger(L, -1, EXIT_OK);
        if (unobserved) {
            lua_getfield(L, -2, "report_unobserved");
            lua_pushboolean(L, verbose);
            lua_call(L, 1, 0);
            if (*exit_status == EXIT_OK) *exit_status = EXIT_FAIL;
        }
    }
    if (sched_exit_override() >= 0) *exit_status = sched_exit_override();
    else if (sched_interrupted()) fputs("sshs: interrupted\n", stderr);
    return 0;
}

/* lauxlib's state (its panic message and warning functions) with our allocator. Blocks made
   before the switch came from malloc; small_alloc frees and resizes those through malloc. */
static lua_State *new_state(void)
{
    small_alloc_init();
    lua_State *L = luaL_newstate();
    if (L) lua_setallocf(L, small_alloc, NULL);
    return L;
}

int main(int argc, char **argv)
{
    struct args a;
    if (parse_args(argc, argv, &a) != 0) { fputs(USAGE_HINT, stderr); return EXIT_USAGE; }
    if (a.interactive && !isatty(0)) {
        fprintf(stderr, "sshs: -i needs a terminal on stdin\n" USAGE_HINT);
        return EXIT_USAGE;
    }
    if (a.interactive && !a.chunk && !a.opt.script) a.interactive = 0;   /* plain `sshs -i` */
    if (a.interactive && a.opt.hosts) {
        fprintf(stderr, "sshs: -i after a script cannot be combined with -H "
                        "(sshs -H HOSTS without a script is the fleet REPL)\n" USAGE_HINT);
        return EXIT_USAGE;
    }
    lua_State *L = new_state();
    if (!L) { fputs("sshs: cannot create the Lua state (out of memory)\n", stderr); return EXIT_FAIL; }
    bigstr_install(L);
    /* No collection while the libraries and the prelude are set up (everything made then
       stays alive), as lua.c does: collection steps there only cost start-up time. */
    lua_gc(L, LUA_GCSTOP);
    int exit_status = EXIT_OK;
    lua_pushcfunction(L, pmain);
    lua_pushlightuserdata(L, &a);
    lua_pushlightuserdata(L, &exit_status);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "sshs: %s\n", luaL_tolstring(L, -1, NULL));
        exit_status = EXIT_FAIL;
    }
    fflush(stdout);
    /* What the stdout queue holds goes out first, as long as the reader takes; once
       interrupted or terminated (also meanwhile) it gets a second, then is dropped. */
    out_queue_drain(1000);
    if (sched_exit_override() >= 0) exit_status = sched_exit_override();
    /* Teardown: no child outlives us, and every libuv handle is closed before the loop. */
    repl_shutdown();
    pty_restore_terminal();
    local_shutdown();
    files_shutdown();           /* transfers and forwards before the connections they ride on */
    forward_shutdown();
    remote_shutdown();
    sched_shutdown();
    lua_close(L);
    out_queue_finish(1000);     /* what finalizers printed while the state closed */
    sched_close_loop();
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    return exit_status;
}
