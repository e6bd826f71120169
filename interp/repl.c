/* The REPL's terminal side: GNU readline's callback interface driven by a poll on stdin on
   the shared loop (threads keep running while the user types), the history file, Ctrl-C at
   the prompt, and Tab completion handed to a Lua function. The REPL loop itself is Lua
   (stdlib/_repl.lua); it waits for a line like any other thread waits. */
#include "repl_api.h"
#include "scheduler.h"
#include "output.h"
#include "tty_prompt.h"
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <readline/readline.h>
#include <readline/history.h>

#define HISTORY_MAX 1000

static struct {
    lua_State *L;                 /* the main state: completion runs Lua there */
    uv_poll_t poll;
    int poll_ready, polling;
    int reading;                  /* a readline handler is installed */
    int yielded;                  /* a passphrase question has the terminal: stdin not polled */
    int active;                   /* between repl_setup and repl_end: Ctrl-C is the REPL's */
    struct sched_waiter w;
    enum { R_NONE, R_LINE, R_EOF, R_INTERRUPTED } result;
    char *line;
    char *history_path;
    int history_added;
    int complete_ref;             /* Lua: complete(line, start, stop) -> {matches, append=} */
} R = {.complete_ref = LUA_NOREF};

/* Output while the prompt is shown: the line goes, the output is written, the line (prompt
   and what was typed) comes back below it. */
static void hide_line(void)
{
    if (!R.yielded) rl_clear_visible_line();
}

static void show_line(void)
{
    if (!R.yielded) rl_forced_update_display();
}

/* A passphrase or password question goes up on the terminal (tty_prompt.c): the line being
   edited goes out of sight and stdin is left to the question until it is answered. */
static void yield_terminal(void)
{
    if (!R.reading) return;
    rl_clear_visible_line();
    fflush(rl_outstream ? rl_outstream : stdout);   /* before the question is written */
    if (R.polling) { uv_poll_stop(&R.poll); R.polling = 0; }
    R.yielded = 1;
}

static void on_stdin(uv_poll_t *h, int status, int events);

static void take_terminal_back(void)
{
    if (!R.yielded) return;
    R.yielded = 0;
    if (!R.reading) return;
    uv_poll_start(&R.poll, UV_READABLE, on_stdin);
    R.polling = 1;
    rl_forced_update_display();
    fflush(rl_outstream ? rl_outstream : stdout);
}

static void stop_reading(void)
{
    R.yielded = 0;
    out_set_prompt_hooks(NULL, NULL);
    if (R.reading) {
        rl_callback_handler_remove();     /* restores the terminal's modes */
        R.reading = 0;
    }
    if (R.polling) {
        uv_poll_stop(&R.poll);
        R.polling = 0;
    }
}

/* readline hands over a whole line (NULL at Ctrl-D on an empty line). */
static void on_line(char *line)
{
    stop_reading();
    free(R.line);
    R.line = line;
    R.result = line ? R_LINE : R_EOF;
    sched_wake(&R.w);
}

static void on_stdin(uv_poll_t *h, int status, int events)
{
    if (R.reading) rl_callback_read_char();
}

/* Ctrl-C: at the prompt it drops the line typed so far (and any unfinished chunk, which the
   Lua side learns from "interrupted"). Returns 1 when it was ours to handle. */
static int on_sigint(void)
{
    if (!R.reading) return R.active;      /* between chunks: nothing to stop */
    rl_free_line_state();
    rl_callback_sigcleanup();
    fputs("^C\n", rl_outstream ? rl_outstream : stdout);
    stop_reading();
    R.result = R_INTERRUPTED;
    sched_wake(&R.w);
    return 1;
}

static int readline_k(lua_State *L, int status, lua_KContext ctx)
{
    if (R.result == R_NONE && (sched_interrupted() || sched_cancel_pending(L))) {
        stop_reading();
        sched_check_interrupt(L);
    }
    switch (R.result) {
    case R_LINE:
        lua_pushstring(L, R.line);
        free(R.line);
        R.line = NULL;
        R.result = R_NONE;
        return 1;
    case R_EOF:
        R.result = R_NONE;
        lua_pushnil(L);
        lua_pushliteral(L, "eof");
        return 2;
    case R_INTERRUPTED:
        R.result = R_NONE;
        lua_pushnil(L);
        lua_pushliteral(L, "interrupted");
        return 2;
    default:
        return sched_wait(L, &R.w, readline_k, 0);
    }
}

/* core.readline(prompt) -> line | nil, "eof" | nil, "interrupted". The thread waits; the
   loop (and every other thread) runs meanwhile. */
static int l_readline(lua_State *L)
{
    const char *prompt = luaL_checkstring(L, 1);
    if (R.reading) return luaL_error(L, "readline: another thread is already reading");
    if (!R.poll_ready) {
        if (uv_poll_init(sched_loop(), &R.poll, 0) != 0) return luaL_error(L, "readline: cannot poll stdin");
        R.poll_ready = 1;
    }
    R.result = R_NONE;
    fflush(stdout);
    tty_prompt_share(yield_terminal, take_terminal_back);
    rl_callback_handler_install(prompt, on_line);
    R.reading = 1;
    out_set_prompt_hooks(hide_line, show_line);
    if (tty_prompt_active()) {
        yield_terminal();           /* a question is up: the prompt waits for it */
    } else {
        uv_poll_start(&R.poll, UV_READABLE, on_stdin);
        R.polling = 1;
    }
    return readline_k(L, LUA_OK, 0);
}

/* Readline's candidates from the Lua completer's table, one at a time. */
static char **matches;
static char *next_match(const char *text, int state)
{
    static int i;
    if (state == 0) i = 0;
    if (!matches || !matches[i]) return NULL;
    return strdup(matches[i++]);
}

static void free_matches(void)
{
    if (!matches) return;
    for (int i = 0; matches[i]; i++) free(matches[i]);
    free(matches);
    matches = NULL;
}

/* Shell words: a completed path with a space or a shell character in it is inserted with
   backslashes (as bash does), and a backslash-escaped space does not end the word typed. */
static const char shell_specials[] = " \t\n\\\"'@<>=;|&()#$`?*[]!{}";

/* What needs a backslash: outside quotes, shell_specials; inside the user's "…", the four
   characters special there; inside '…', nothing (a ' in a name cannot be written there). */
static char *quote_path(char *text, int match_type, char *quote_pointer)
{
    (void)match_type;
    char q = quote_pointer ? *quote_pointer : '\0';
    const char *special = q == '\'' ? "" : q == '"' ? "\"$`\\" : shell_specials;
    char *out = malloc(strlen(text) * 2 + 1), *o = out;
    if (!out) return NULL;
    for (const char *t = text; *t; t++) {
        if (*special && strchr(special, *t)) *o++ = '\\';
        *o++ = *t;
    }
    *o = '\0';
    return out;
}

/* Shell completion lists names of the session (often remote, or in a cd block's folder):
   readline must not stat them on the local disk to decide between "/" and " ". Emptying the
   name makes its stat fail; the completer already ends folders with "/". */
static int no_local_stat(char **name)
{
    if (name && *name) (*name)[0] = '\0';
    return 1;
}

/* Where a word starts: in a shell part of the line ("$ …", "$(…"), at the shell's word
   breaks, so "c++/" or "a,b" stay one word; elsewhere at Lua's. */
static const char lua_breaks[] = " \t\n\"'`@$><=;|&{(,+*%^~#[]!";
static const char shell_breaks[] = " \t\n\"'`@$><=;|&{(";

/* The REPL's one rule for "is this position in a shell part": the offset where the shell text
   that `point` is in starts (after a leading "$ ", or after a "$(" / "$?(" not closed before
   point), or -1 when point is in Lua. Readline's word breaks (word_breaks) and what to complete
   (_repl.lua, through core.repl_shell_start) both ask it. */
static int shell_start(const char *line, int point)
{
    int i = 0;
    while (i < point && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i + 1 < point && line[i] == '$' && (line[i + 1] == ' ' || line[i + 1] == '\t')) return i + 2;
    int start = -1;
    for (int k = 0; k < point; k++) {
        if (line[k] == '$' && k + 1 < point && line[k + 1] == '(') start = k + 2;
        else if (line[k] == '$' && k + 2 < point && line[k + 1] == '?' && line[k + 2] == '(') start = k + 3;
        else if (line[k] == ')') start = -1;
    }
    return start;
}

static char *word_breaks(void)
{
    return (char *)(shell_start(rl_line_buffer, rl_point) >= 0 ? shell_breaks : lua_breaks);
}

/* core.repl_shell_start(line, pos) -> the 0-based offset where the shell part that position
   pos (0-based) is in starts, or nil when pos is in Lua: shell_start for the completer. */
static int l_shell_start(lua_State *L)
{
    size_t n;
    const char *line = luaL_checklstring(L, 1, &n);
    lua_Integer pos = luaL_checkinteger(L, 2);
    if (pos < 0) pos = 0;
    if ((size_t)pos > n) pos = (lua_Integer)n;
    int start = shell_start(line, (int)pos);
    if (start < 0) lua_pushnil(L); else lua_pushinteger(L, start);
    return 1;
}

static int backslash_quoted(char *line, int index)
{
    int n = 0;
    while (index - n > 0 && line[index - n - 1] == '\\') n++;
    return n % 2 == 1;
}

static char **complete(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1;     /* no fallback to readline's own file names */
    lua_State *L = R.L;
    if (!L || R.complete_ref == LUA_NOREF) return NULL;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, R.complete_ref);
    lua_pushstring(L, rl_line_buffer);
    lua_pushinteger(L, start);
    lua_pushinteger(L, end);
    char **result = NULL;
    if (lua_pcall(L, 3, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        free_matches();
        lua_Integer n = luaL_len(L, -1);
        matches = calloc((size_t)n + 1, sizeof *matches);
        for (lua_Integer i = 1; matches && i <= n; i++) {
            lua_rawgeti(L, -1, i);
            const char *s = lua_tostring(L, -1);
            matches[i - 1] = strdup(s ? s : "");
            lua_pop(L, 1);
        }
        lua_getfield(L, -1, "append");
        const char *app = lua_tostring(L, -1);
        rl_completion_append_character = app ? app[0] : ' ';
        lua_pop(L, 1);
        lua_getfield(L, -1, "paths");        /* shell paths: readline quotes what it inserts */
        if (lua_toboolean(L, -1)) {
            rl_filename_completion_desired = rl_filename_quoting_desired = 1;
            rl_filename_stat_hook = no_local_stat;
            /* A lone folder: the user goes on typing inside it, so no closing quote. */
            if (n == 1 && matches && matches[0] && *matches[0] &&
                matches[0][strlen(matches[0]) - 1] == '/')
                rl_completion_suppress_quote = 1;
        } else {
            rl_filename_stat_hook = NULL;
        }
        lua_pop(L, 1);
        if (n > 0) result = rl_completion_matches(text, next_match);
        free_matches();
    }
    lua_settop(L, top);
    return result;
}

/* core.repl_retry_complete(line): a listing the completer waited for has arrived; if the
   user's line is still the same, complete again as if Tab had been pressed. */
static int l_retry_complete(lua_State *L)
{
    const char *line = luaL_checkstring(L, 1);
    if (!R.reading || strcmp(line, rl_line_buffer) != 0) return 0;
    rl_complete_internal(TAB);
    rl_last_func = rl_complete;           /* a second Tab lists the candidates */
    rl_redisplay();
    return 0;
}

/* core.repl_setup(history_path, completer): readline settings, the history file. */
static int l_setup(lua_State *L)
{
    const char *path = luaL_optstring(L, 1, NULL);
    if (lua_isfunction(L, 2)) {
        lua_pushvalue(L, 2);
        luaL_unref(L, LUA_REGISTRYINDEX, R.complete_ref);
        R.complete_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    rl_readline_name = "sshs";
    rl_catch_signals = 0;                 /* Ctrl-C comes through the loop (on_sigint) */
    rl_catch_sigwinch = 1;
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = (char *)lua_breaks;
    rl_completion_word_break_hook = word_breaks;
    rl_completer_quote_characters = "'\"";    /* readline quotes inserted names only with these set */
    rl_filename_quote_characters = shell_specials;
    rl_filename_quoting_function = quote_path;
    rl_char_is_quoted_p = backslash_quoted;
    using_history();
    stifle_history(HISTORY_MAX);
    history_comment_char = '#';           /* entries get "#<time>" lines in the file, and */
    history_write_timestamps = 1;         /* with those, multi-line chunks read back whole */
    history_multiline_entries = 1;
    free(R.history_path);
    R.history_path = path ? strdup(path) : NULL;
    if (R.history_path) read_history(R.history_path);
    sched_set_sigint_hook(on_sigint);
    R.active = 1;
    return 0;
}

/* core.repl_running(true) while a chunk runs: Ctrl-C is no longer the prompt's (the chunk's
   first Ctrl-C goes to the REPL's event, a second one within a second interrupts everything,
   busy Lua too); (false) after it: the prompt's again, and an interrupt the chunk took is
   forgotten so the REPL goes on. */
static int l_running(lua_State *L)
{
    if (lua_toboolean(L, 1)) {
        sched_set_sigint_hook(NULL);
    } else {
        if (sched_interrupted()) sched_interrupt_reset();
        sched_set_sigint_hook(on_sigint);
    }
    return 0;
}

/* core.repl_end(): the user left; threads still running in the background are stopped
   (as at the end of a script run by Ctrl-C, but with exit status 0). */
static int l_end(lua_State *L)
{
    stop_reading();
    R.active = 0;
    sched_set_sigint_hook(NULL);
    sched_abort(0);
    return 0;
}

/* core.history_add(chunk): into memory and appended to the file at once (size-limited). */
static int l_history_add(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, s) == 0) return 0;     /* no repeats in a row */
    add_history(s);
    if (!R.history_path) return 0;
    if (access(R.history_path, F_OK) != 0) {
        FILE *f = fopen(R.history_path, "a");     /* append_history needs the file */
        if (f) fclose(f);
    }
    append_history(1, R.history_path);
    if (++R.history_added % 100 == 0) history_truncate_file(R.history_path, HISTORY_MAX);
    return 0;
}

static void repl_attach(lua_State *L)
{
    R.L = L;
}

static void repl_shutdown(void)
{
    stop_reading();
    if (R.poll_ready && !uv_is_closing((uv_handle_t *)&R.poll)) {
        uv_close((uv_handle_t *)&R.poll, NULL);
        fcntl(0, F_SETFL, fcntl(0, F_GETFL) & ~O_NONBLOCK);   /* the poll made it non-blocking */
    }
    if (R.history_path) history_truncate_file(R.history_path, HISTORY_MAX);
    clear_history();                      /* readline's memory, for leak checkers */
    free(R.line);
    R.line = NULL;
    free(R.history_path);
    R.history_path = NULL;
    R.L = NULL;
}

/* The module's one exported symbol (repl_api.h), read by repl_lazy.c after dlopen. */
__attribute__((visibility("default")))
const struct repl_api sshs_repl_api = {
    .version = REPL_API_VERSION,
    .attach = repl_attach,
    .fn = {
        [REPL_FN_readline] = l_readline, [REPL_FN_repl_setup] = l_setup,
        [REPL_FN_history_add] = l_history_add, [REPL_FN_repl_retry_complete] = l_retry_complete,
        [REPL_FN_repl_end] = l_end, [REPL_FN_repl_running] = l_running,
        [REPL_FN_repl_shell_start] = l_shell_start,
    },
    .shutdown = repl_shutdown,
};
