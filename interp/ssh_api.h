/* The SSH module's interface: the one table of functions through which the Lua bindings
   (l_*.c) and main reach the connection side. The connection side (ssh_*.c but ssh_config.c,
   libssh2, libcrypto) is a shared module loaded on first use (sshmod.c), so a script that
   never connects does not pay for loading and relocating libcrypto at start-up.
   The other way, the module calls the core only through the functions listed in
   interp/core.exports (the scheduler's wake-ups and command output). */
#ifndef SSHS_SSH_API_H
#define SSHS_SSH_API_H
#include "ssh.h"
#include "ssh_exec.h"
#include "ssh_forward.h"
#include "ssh_pty.h"
#include "ssh_sftp.h"
#include "ssh_tunnel.h"

/* Bumped whenever the list or a signature changes: a module from another build is refused. */
#define SSH_API_VERSION 1

/* X(return type, name, parameter list): each is the ssh_*.c function of that name (see its
   header for what it does). */
#define SSH_API_FUNCTIONS(X) \
    X(const char *, algs_library_version, (void)) \
    X(int, conn_agent_forwarding_supported, (void)) \
    X(struct conn *, conn_start, (struct ssh_params *p, int transport_fd, struct sched_waiter *w)) \
    X(enum conn_state, conn_state, (const struct conn *c)) \
    X(const char *, conn_error, (const struct conn *c)) \
    X(const char *, conn_display, (const struct conn *c)) \
    X(void, conn_retain, (struct conn *c)) \
    X(void, conn_release, (struct conn *c)) \
    X(void, conn_fail, (struct conn *c, const char *why)) \
    X(void, conn_forget_waiter, (struct conn *c, struct sched_waiter *w)) \
    X(void, conn_interrupt_all, (void)) \
    X(void, conn_shutdown_all, (void)) \
    X(void, ops_interrupt_all, (void)) \
    X(void, ops_shutdown, (void)) \
    X(void, proxy_shutdown_all, (void)) \
    X(void, ssh_params_free, (struct ssh_params *p)) \
    X(struct command *, exec_new, (struct conn *c, const char *line, const struct exec_opts *o)) \
    X(void, exec_submit, (struct command *cmd)) \
    X(int, tunnel_open, (struct conn *outer, const char *host, int port, struct tunnel **t)) \
    X(void, tunnel_set_inner, (struct tunnel *t, struct conn *inner)) \
    X(struct sftp_req *, sftp_new, (enum sftp_what what)) \
    X(void, sftp_submit, (struct conn *c, struct sftp_req *r)) \
    X(void, sftp_req_stop, (struct sftp_req *r)) \
    X(void, sftp_req_release, (struct sftp_req *r)) \
    X(const char *, sftp_status_text, (unsigned long status)) \
    X(struct fwd *, fwd_listen, (struct conn *c, const char *lhost, int lport, const char *thost, \
                                 int tport, char *err, size_t errlen)) \
    X(struct fwd *, fwd_remote, (struct conn *c, const char *rhost, int rport, const char *thost, \
                                 int tport, char *err, size_t errlen)) \
    X(int, fwd_port, (const struct fwd *f)) \
    X(unsigned long, fwd_accepted, (const struct fwd *f)) \
    X(int, fwd_open_count, (const struct fwd *f)) \
    X(int, fwd_remote_state, (const struct fwd *f, const char **err)) \
    X(void, fwd_set_waiter, (struct fwd *f, struct sched_waiter *w)) \
    X(void, fwd_close, (struct fwd *f)) \
    X(void, fwd_shutdown_all, (void)) \
    X(int, ssh_pty_open, (struct conn *c, const char *term, int cols, int rows, const char *cmd, \
                          struct ssh_pty **out)) \
    X(void, ssh_pty_resize, (struct ssh_pty *p, int cols, int rows)) \
    X(const char *, ssh_pty_error, (const struct ssh_pty *p)) \
    X(void, ssh_pty_release, (struct ssh_pty *p))

struct ssh_api {
    int version;                /* SSH_API_VERSION of the module's build */
#define SSH_API_MEMBER(ret, name, params) ret (*name) params;
    SSH_API_FUNCTIONS(SSH_API_MEMBER)
#undef SSH_API_MEMBER
};

/* The module's one exported symbol (ssh_api.c). */
#define SSH_API_SYMBOL "sshs_ssh_api"

#endif
