/* Lua bindings of the remote layer: core.connect, connection objects (conn:exec starts a
   remote command: its object is the shared one of l_command.c), ssh_config lookups. */
#include "l_remote.h"
#include "l_command.h"
#include "l_util.h"
#include "l_pty.h"
#include "sshmod.h"
#include "ssh_config.h"
#include <lauxlib.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_MT "sshs.conn"
static const struct lutil_meta conn_meta;      /* below; made with the first connection */

struct conn_ud {
    struct conn *c;
    struct sched_waiter w;
};

/* The SSH module, loaded on the first connect (or prompt); a Lua error saying why when it
   cannot be. */
static const struct ssh_api *lua_ssh_api(lua_State *L)
{
    char err[PATH_MAX + 256];
    const struct ssh_api *api = sshmod_load(err, sizeof err);
    if (!api) luaL_error(L, "%s", err);
    return api;
}

/* Ctrl-C: connections drop their ops, then every stoppable op stops (nothing to do before the
   module is loaded: no connection exists). */
static void interrupt_remote(void)
{
    if (!sshapi) return;
    sshapi->conn_interrupt_all();
    sshapi->ops_interrupt_all();
}

static struct conn_ud *check_conn(lua_State *L, int idx)
{
    struct conn_ud *ud = luaL_checkudata(L, idx, CONN_MT);
    if (!ud->c) luaL_error(L, "this connection is closed");
    return ud;
}

struct conn *remote_checkconn(lua_State *L, int idx)
{
    return check_conn(L, idx)->c;
}

static double field_num(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The numbers a connection needs, with the smallest each may be. Their defaults are decided
   once, by the prelude (it merges options, ssh_config and defaults): none here. */
static const struct { const char *name; double min; } required_nums[] = {
    {"port", 1}, {"timeout", 0}, {"keepalive", 0}, {"keepalive_max", 1}, {"max_channels", 1}};

/* Raises unless the params table at t has every required field (before anything is
   allocated, so the error leaks nothing). */
static void check_params(lua_State *L, int t)
{
    for (size_t i = 0; i < sizeof required_nums / sizeof required_nums[0]; i++) {
        lua_getfield(L, t, required_nums[i].name);
        int isnum = lua_isnumber(L, -1);
        double v = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!isnum || v < required_nums[i].min)
            luaL_error(L, "connect: params.%s must be a number >= %d", required_nums[i].name,
                       (int)required_nums[i].min);
    }
    lua_getfield(L, t, "hostname");
    lua_getfield(L, t, "user");
    int ok = lua_type(L, -1) == LUA_TSTRING && lua_type(L, -2) == LUA_TSTRING;
    lua_pop(L, 2);
    if (!ok) luaL_error(L, "connect: params.hostname and params.user must be strings");
}

static int field_bool(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The params table (built by the prelude from options and ssh config) -> ssh_params.
   -1 when out of memory for a known_hosts file (a file left out could hide a @revoked line). */
static int read_params(lua_State *L, int t, struct ssh_params *p)
{
    int r = 0;
    memset(p, 0, sizeof *p);
    p->display = lutil_strfield(L, t, "display");
    p->hostname = lutil_strfield(L, t, "hostname");
    p->hostkey_name = lutil_strfield(L, t, "hostkey_name");
    p->user = lutil_strfield(L, t, "user");
    p->port = (int)field_num(L, t, "port");
    p->password = lutil_strfield(L, t, "password");
    p->passphrase = lutil_strfield(L, t, "passphrase");
    p->known_hosts = lutil_strfield(L, t, "known_hosts");
    p->ciphers = lutil_strfield(L, t, "ciphers");
    p->macs = lutil_strfield(L, t, "macs");
    p->kex = lutil_strfield(L, t, "kex");
    p->proxy_command = lutil_strfield(L, t, "proxy_command");
    p->agent_fwd_sock = lutil_strfield(L, t, "forward_agent_sock");
    p->agent = field_bool(L, t, "agent");
    p->interactive = field_bool(L, t, "interactive");
    p->hash_known_hosts = field_bool(L, t, "hash_known_hosts");
    p->tunnel_only = field_bool(L, t, "tunnel_only");
    p->timeout = field_num(L, t, "timeout");
    p->keepalive = (int)field_num(L, t, "keepalive");
    p->keepalive_max = (int)field_num(L, t, "keepalive_max");
    p->max_channels = (int)field_num(L, t, "max_channels");
    lua_getfield(L, t, "host_key_check");
    const char *m = lua_tostring(L, -1);
    p->hostkey_mode = !m || strcmp(m, "yes") == 0 ? HOSTKEY_YES
                    : strcmp(m, "accept-new") == 0 ? HOSTKEY_ACCEPT_NEW : HOSTKEY_NO;
    lua_pop(L, 1);
    lua_getfield(L, t, "global_known_hosts");
    if (lua_istable(L, -1)) {
        for (int i = 1; p->n_global_kh < SSH_MAX_GLOBAL_KH; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING) { lua_pop(L, 1); break; }
            if ((p->global_kh[p->n_global_kh] = strdup(lua_tostring(L, -1)))) p->n_global_kh++;
            else r = -1;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "certificates");
    if (lua_istable(L, -1)) {
        for (int i = 1; p->ncerts < SSH_MAX_KEYS; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING) { lua_pop(L, 1); break; }
            if ((p->cert_files[p->ncerts] = strdup(lua_tostring(L, -1)))) p->ncerts++;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "keys");
    if (lua_istable(L, -1)) {
        for (int i = 1; p->nkeys < SSH_MAX_KEYS; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TTABLE) { lua_pop(L, 1); break; }
            p->keys[p->nkeys] = lutil_strfield(L, -1, "path");
            p->key_given[p->nkeys] = field_bool(L, -1, "given");
            if (p->keys[p->nkeys]) p->nkeys++;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (!p->display) p->display = strdup(p->hostname);
    if (!p->hostkey_name && p->hostname) p->hostkey_name = strdup(p->hostname);
    return r;
}

static int connect_k(lua_State *L, int status, lua_KContext ctx)
{
    struct conn_ud *ud = lua_touserdata(L, (int)ctx);
    if (sched_cancel_pending(L)) sched_check_interrupt(L);   /* the object's __gc closes it */
    switch (sshapi->conn_state(ud->c)) {
    case C_READY:
        lua_pushvalue(L, (int)ctx);
        return 1;
    case C_DEAD: {
        if (sched_interrupted()) sched_check_interrupt(L);
        lua_pushstring(L, sshapi->conn_error(ud->c));
        sshapi->conn_release(ud->c);
        ud->c = NULL;
        return lua_error(L);
    }
    default:
        return sched_wait(L, &ud->w, connect_k, ctx);
    }
}

/* core.connect(params) -> connection, after the handshake and auth (the thread waits). */
static int l_connect(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_ssh_api(L);
    struct conn *via = NULL;
    lua_getfield(L, 1, "via");
    if (!lua_isnil(L, -1)) via = check_conn(L, -1)->c;
    lua_pop(L, 1);

    check_params(L, 1);
    struct ssh_params p;
    if (read_params(L, 1, &p) != 0) { sshapi->ssh_params_free(&p); return luaL_error(L, "out of memory"); }
    int fd = -1;
    struct tunnel *tun = NULL;
    if (via) {
        if (sshapi->conn_state(via) != C_READY) { sshapi->ssh_params_free(&p); return luaL_error(L, "the jump host connection is closed"); }
        fd = sshapi->tunnel_open(via, p.hostname, p.port, &tun);
        if (fd < 0) {
            int e = errno;
            sshapi->ssh_params_free(&p);
            return luaL_error(L, "cannot open a tunnel: %s", strerror(e));
        }
    }
    struct conn_ud *ud = lua_newuserdatauv(L, sizeof *ud, 1);
    ud->c = NULL;
    ud->w.thread = NULL;
    lutil_setmeta(L, &conn_meta);
    int idx = lua_gettop(L);
    if (via) {                          /* keep the jump host's object alive with ours */
        lua_getfield(L, 1, "via");
        lua_setiuservalue(L, idx, 1);
    }
    ud->c = sshapi->conn_start(&p, fd, &ud->w);
    if (!ud->c) { sshapi->ssh_params_free(&p); return luaL_error(L, "out of memory"); }
    if (tun) sshapi->tunnel_set_inner(tun, ud->c);
    return connect_k(L, LUA_OK, idx);
}

/* conn:exec(cmd, opts) -> command object (opts: stdin, pty, timeout, stoppable, and the
   output options of cmdout_init). A lost connection raises from op:wait(). */
/* conn:pty(opts) -> a shell on a remote pty (l_pty.c). */
static int l_pty(lua_State *L)
{
    return pty_lua_open_remote(L, check_conn(L, 1)->c, 2);
}

static int l_exec(lua_State *L)
{
    struct conn *c = check_conn(L, 1)->c;
    const char *line = luaL_checkstring(L, 2);
    sched_check_interrupt(L);             /* after Ctrl-C nothing new starts */
    if (sshapi->conn_state(c) == C_DEAD) return luaL_error(L, "%s", sshapi->conn_error(c));
    lua_settop(L, 3);
    struct exec_opts o = {.stoppable = 1};
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "pty");
        o.pty = lua_toboolean(L, -1);
        lua_getfield(L, 3, "timeout");
        o.timeout = lua_tonumber(L, -1);
        lua_getfield(L, 3, "stoppable");
        o.stoppable = lua_isnil(L, -1) || lua_toboolean(L, -1);
        lua_getfield(L, 3, "stdin_open");
        o.in_open = lua_toboolean(L, -1);
        lua_getfield(L, 3, "stdin");
        o.in = lua_tolstring(L, -1, &o.in_len);   /* copied by exec_new; popped after it */
    }
    struct command **ud = command_push(L);
    struct command *cmd = sshapi->exec_new(c, line, &o);
    if (!cmd) return luaL_error(L, "out of memory");
    *ud = cmd;
    cmdout_init(L, &cmd->co, 3);
    sshapi->exec_submit(cmd);
    return 1;
}

static int l_close(lua_State *L)
{
    struct conn_ud *ud = luaL_checkudata(L, 1, CONN_MT);
    if (ud->c) {
        sshapi->conn_forget_waiter(ud->c, &ud->w);
        sshapi->conn_release(ud->c);
        ud->c = NULL;
    }
    return 0;
}

static int l_alive(lua_State *L)
{
    struct conn_ud *ud = luaL_checkudata(L, 1, CONN_MT);
    lua_pushboolean(L, ud->c && sshapi->conn_state(ud->c) == C_READY);
    if (ud->c && sshapi->conn_state(ud->c) == C_DEAD) { lua_pushstring(L, sshapi->conn_error(ud->c)); return 2; }
    return 1;
}

/* core.sshconfig(host, path [, {"Key=value", …} [, user]]) -> table of what ~/.ssh/config
   says for host, with the -o lines of the array read first (they win); user: the remote user
   already chosen (user@host, connect{user=}), for Match user. */
static int l_sshconfig(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char *extra[64];
    int nextra = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        nextra = (int)luaL_len(L, 3);
        if (nextra > 64) return luaL_error(L, "too many -o options (at most 64)");
        for (int i = 0; i < nextra; i++) {
            lua_rawgeti(L, 3, i + 1);
            if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "-o options must be strings");
            extra[i] = lua_tostring(L, -1);         /* the table keeps it alive */
            lua_pop(L, 1);
        }
    }
    const char *user = luaL_optstring(L, 4, NULL);
    struct sshcfg cfg;
    char err[512];
    if (sshcfg_lookup_as(path, host, user, extra, nextra, &cfg, err, sizeof err) != 0)
        return luaL_error(L, "%s", err);
    lua_createtable(L, 0, 20);
    struct { const char *name; const char *v; } strs[] = {
        {"hostname", cfg.hostname}, {"user", cfg.user}, {"proxyjump", cfg.proxyjump},
        {"strict_host_key_checking", cfg.strict_host_key_checking},
        {"user_known_hosts_file", cfg.user_known_hosts_file}, {"ciphers", cfg.ciphers},
        {"macs", cfg.macs}, {"kexalgorithms", cfg.kex_algorithms},
        {"proxycommand", cfg.proxy_command}, {"proxycommand_where", cfg.proxy_command_where},
        {"hash_known_hosts", cfg.hash_known_hosts}, {"forward_agent", cfg.forward_agent},
        {"forward_agent_where", cfg.forward_agent_where},
        {"host_key_alias", cfg.host_key_alias}, {"identity_agent", cfg.identity_agent}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strs[i].v) { lua_pushstring(L, strs[i].v); lua_setfield(L, -2, strs[i].name); }
    struct { const char *name; int v; } nums[] = {
        {"port", cfg.port}, {"connect_timeout", cfg.connect_timeout},
        {"server_alive_interval", cfg.server_alive_interval},
        {"server_alive_count_max", cfg.server_alive_count_max},
        {"connection_attempts", cfg.connection_attempts}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (nums[i].v) { lua_pushinteger(L, nums[i].v); lua_setfield(L, -2, nums[i].name); }
    lua_createtable(L, cfg.n_identity_files, 0);
    for (int i = 0; i < cfg.n_identity_files; i++) {
        lua_pushstring(L, cfg.identity_files[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "identity_files");
    lua_createtable(L, cfg.n_certificate_files, 0);
    for (int i = 0; i < cfg.n_certificate_files; i++) {
        lua_pushstring(L, cfg.certificate_files[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "certificate_files");
    if (cfg.global_kh_set) {                     /* GlobalKnownHostsFile given ("none": empty) */
        lua_createtable(L, cfg.n_global_kh, 0);
        for (int i = 0; i < cfg.n_global_kh; i++) {
            lua_pushstring(L, cfg.global_kh[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "global_known_hosts_files");
    }
    sshcfg_free(&cfg);
    return 1;
}

/* core.agent_forwarding (whether this libssh2 can forward the agent) and core.libssh2_version:
   facts about the SSH module, which loads (and the answer is kept in core) the first time a
   script asks, so start-up does not load it. */
static int core_ssh_fact(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    int agent = k && strcmp(k, "agent_forwarding") == 0;
    if (!agent && !(k && strcmp(k, "libssh2_version") == 0)) return 0;
    const struct ssh_api *api = lua_ssh_api(L);
    if (agent) lua_pushboolean(L, api->conn_agent_forwarding_supported());
    else lua_pushstring(L, api->algs_library_version());
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

static const luaL_Reg conn_methods[] = {
    {"exec", l_exec}, {"close", l_close}, {"alive", l_alive}, {"pty", l_pty}, {NULL, NULL}};
static const luaL_Reg conn_metamethods[] = {{"__gc", l_close}, {NULL, NULL}};
static const struct lutil_meta conn_meta = {CONN_MT, conn_methods, conn_metamethods};

void remote_open(lua_State *L, int core_idx)
{
    static const luaL_Reg fns[] = {
        {"connect", l_connect}, {"sshconfig", l_sshconfig}, {NULL, NULL}};
    lua_pushvalue(L, core_idx);
    luaL_setfuncs(L, fns, 0);
    lua_createtable(L, 0, 1);           /* core.agent_forwarding, core.libssh2_version */
    lua_pushcfunction(L, core_ssh_fact);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    sched_on_interrupt(interrupt_remote);
}

void remote_shutdown(void)
{
    if (!sshapi) return;
    sshapi->ops_shutdown();
    sshapi->conn_shutdown_all();
    sshapi->proxy_shutdown_all();
}
