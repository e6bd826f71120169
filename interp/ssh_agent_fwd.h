/* Agent forwarding (connect{forward_agent = true}, ForwardAgent yes; never on by default).
   Every channel that runs a command asks the server for it (ssh_exec.c, ssh_bridge.c: the
   "agent" stage); sshd then opens an auth-agent@openssh.com channel back to us for each
   agent client on the remote host. libssh2 (>= 1.11) hands each such channel to a callback in
   the middle of whatever call read its open, where no libssh2 call may be made: the callback
   only queues it. The connection's agent op then bridges each one (ssh_bridge.c, weak) to a
   fresh connection to the local agent's socket, on its next step:

     libssh2 callback ─▶ queue ─▶ agentfwd op ("accept") ─▶ bridge per channel: pump → close

   A local agent that cannot be reached is a warning (once per connection, naming the socket)
   and that channel is closed at once: the remote client sees a closed agent, nothing hangs.
   The op is weak and idle between channels: it lives as long as its connection and keeps
   nobody from closing it. On an otherwise idle connection it is also what reads (see
   agentfwd_wake). Its state is freed when the op and every bridge it made are gone. */
#ifndef SSHS_SSH_AGENT_FWD_H
#define SSHS_SSH_AGENT_FWD_H
#include "ssh_conn.h"

struct agent_fwd;

/* Starts c's agent op, forwarding the agent at sock (SSH_AUTH_SOCK); NULL when out of memory. */
struct agent_fwd *agentfwd_start(struct conn *c, const char *sock);
/* The connection is idle (nothing reads) and data has arrived, maybe an agent channel's open
   from a process the last command left behind: the op reads it (libssh2_session_read_packets,
   patch 0006). 0 when this libssh2 has no such call (then the next operation reads it). */
int agentfwd_wake(struct agent_fwd *af);
/* From libssh2's callback: the server opened ch; it is bridged on the op's next step. */
void agentfwd_take(struct agent_fwd *af, LIBSSH2_CHANNEL *ch);
/* Should a new channel ask for forwarding (see conn_forwards_agent)? once_is_enough: the
   server grants it once per connection (OpenSSH). */
int agentfwd_should_ask(const struct agent_fwd *af, int once_is_enough);
/* The server's answer to a channel's request: a refusal before any grant is a warning, once. */
void agentfwd_answer(struct agent_fwd *af, int granted, const char *reason);

#endif
