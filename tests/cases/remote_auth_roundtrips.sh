#!/usr/bin/env bash
# Round trips of a connect and of a command (issue 21), counted, not timed: the requests that
# wait for a reply, as the server's debug log lists them and as SSHS_TRACE=1 names them.
# - With a key to offer, sshs offers it at once instead of first asking for the server's methods
#   (auth "none", a round trip of its own).
# - A key file's publickey request goes signed at once (libssh2 patch 0007), without the query
#   "would you take this key?" and its PK_OK (one round trip less). The system libssh2 1.10 has no
#   such flag: there the query stays, and these checks expect it.
# - A refused key file still falls back to the next key and to a password; agent keys keep the
#   query, so the agent signs only for the key the server takes.
# - A command on an open connection is two requests that wait for a reply (channel open, exec);
#   nothing else is asked for (no env or pty request, no window adjustment), and the close of one
#   command's channel does not keep the next one from opening.
source "$TESTROOT/remote_lib.sh"
plan 19

start_sshd "$TMP/rsshd" $'LogLevel DEBUG1\nPasswordAuthentication yes' || exit 1
LOG=$X_DIR/sshd.log
if [ "$LIBSSH2_OLD" = 1 ]; then HOW="query first"; PK_PER_KEY=2; else HOW="signed at once"; PK_PER_KEY=1; fi

# pk_requests: the publickey requests in a piece of the server log (log_since: remote_lib.sh).
pk_requests() { grep -c "userauth-request for user .* method publickey" || true; }

script one.sshs <<'EOF'
with connect("127.0.0.1") do
  print($(echo connected))
end
EOF

# --- a key file -----------------------------------------------------------------------------------
n0=$(log_lines)
RHOME=$X_HOME SSHS_TRACE=1 run_remote one.sshs
settle "$n0"
if [ "$rc" = 0 ] && [ "$out" = connected ]; then ok "a connect with a key runs its command"; else not_ok "a connect with a key runs its command" "rc=$rc" "$err"; fi
if log_since "$n0" | grep -q "method publickey"; then ok "the server saw a publickey request"; else not_ok "the server saw a publickey request" "$(log_since "$n0" | grep -i userauth | tail -n 5)"; fi
if log_since "$n0" | grep -q "method none"; then
  not_ok "no auth \"none\" request (method query) before the key" "$(log_since "$n0" | grep 'userauth-request')"
else
  ok "no auth \"none\" request (method query) before the key"
fi
n=$(log_since "$n0" | pk_requests)
if [ "$n" = "$PK_PER_KEY" ]; then ok "the server got $PK_PER_KEY publickey request(s) for one key file ($HOW)"
else not_ok "the server got $PK_PER_KEY publickey request(s) for one key file ($HOW)" "got $n" "$(log_since "$n0" | grep -i 'userauth\|Postponed')"; fi
if [ "$LIBSSH2_OLD" = 1 ] || ! log_since "$n0" | grep -q "Postponed publickey"; then ok "no query answered with PK_OK before the signature (or 1.10: the query is expected)"
else not_ok "no query answered with PK_OK before the signature" "$(log_since "$n0" | grep -i 'Postponed\|userauth')"; fi
t=$(grep -c "auth: " "$TMP/err")
if [ "$t" = 1 ] && grep -q "auth: publickey $X_HOME/.ssh/id_ed25519 ($HOW): accepted" "$TMP/err"; then
  ok "SSHS_TRACE: one auth request, the key file, $HOW"
else not_ok "SSHS_TRACE: one auth request, the key file, $HOW" "$(grep 'auth: ' "$TMP/err")"; fi

# --- a command on an open connection ----------------------------------------------------------------
script three.sshs <<'EOF'
with connect("127.0.0.1") do
  $ true
  local r = $ sh -c 'echo out; echo err >&2; exit 3'
  print(r.exitcode, r.stdout, r.stderr)
  $ true
end
EOF
n0=$(log_lines)
RHOME=$X_HOME SSHS_TRACE=1 WANT_RC=1 run_remote three.sshs
settle "$n0"
# The second command fails (exit 3) and raises: the script ends there, with exit 1.
opens=$(log_since "$n0" | grep -c "server_input_channel_open: ctype session")
execs=$(log_since "$n0" | grep -c "server_input_channel_req: channel [0-9]* request exec reply 1")
others=$(log_since "$n0" | grep "server_input_channel_req:" | grep -vc "request exec reply 1")
if [ "$opens" = 2 ] && [ "$execs" = 2 ] && [ "$others" = 0 ]; then
  ok "two commands: two channel opens and two exec requests, no other channel request"
else not_ok "two commands: two channel opens and two exec requests, no other channel request" "opens=$opens execs=$execs others=$others" "$(log_since "$n0" | grep 'server_input_channel')"; fi
expect_err_has "exit 3" "a failing command still reports its exit status"
expect_err_has "err" "... and its stderr"
seq2=$(grep "exec#2:" "$TMP/err" | sed 's/.*exec#2: //' | tr '\n' ' ')
if [ "$seq2" = "open -> exec exec -> io io -> close close -> wait-closed wait-closed -> free free -> done " ]; then
  ok "SSHS_TRACE: a command is channel open, exec, then output and close (no pty, no env)"
else not_ok "SSHS_TRACE: a command is channel open, exec, then output and close (no pty, no env)" "$seq2"; fi
# Every channel opened was closed by both sides: nothing leaked on the server.
closes=$(log_since "$n0" | grep -c "channel [0-9]*: free: server-session")
if [ "$closes" = "$opens" ]; then ok "every channel was freed on the server ($closes of $opens)"
else not_ok "every channel was freed on the server" "freed $closes of $opens" "$(log_since "$n0" | grep 'free:\|rcvd close')"; fi

script many.sshs <<'EOF'
with connect("127.0.0.1") do
  local got = {}
  for i = 1, 20 do got[#got + 1] = $(echo #{i}) end
  print(table.concat(got, ","))
end
EOF
n0=$(log_lines)
RHOME=$X_HOME run_remote many.sshs
settle "$n0"
opens=$(log_since "$n0" | grep -c "server_input_channel_open: ctype session")
execs=$(log_since "$n0" | grep -c "request exec reply 1")
adjust=$(log_since "$n0" | grep -c "window adjust\|rcvd adjust")
if [ "$rc" = 0 ] && [ "$out" = "$(seq -s, 1 20)" ]; then ok "20 commands on one connection, outputs in order"; else not_ok "20 commands on one connection, outputs in order" "$(show)"; fi
if [ "$opens" = 20 ] && [ "$execs" = 20 ] && [ "$adjust" = 0 ]; then ok "20 commands: 20 opens, 20 execs, no window adjustment"
else not_ok "20 commands: 20 opens, 20 execs, no window adjustment" "opens=$opens execs=$execs adjust=$adjust"; fi

# --- a refused key file falls back --------------------------------------------------------------------
two_keys_home "$TMP/two"
n0=$(log_lines)
RHOME=$TMP/two SSHS_TRACE=1 run_remote one.sshs
settle "$n0"
if [ "$rc" = 0 ] && [ "$out" = connected ]; then ok "a refused key file, then the right one: connected"; else not_ok "a refused key file, then the right one: connected" "$(show)"; fi
if grep -q "auth: publickey $X_WRONG_KEY ($HOW): refused" "$TMP/err" && grep -q "auth: publickey $X_HOME/.ssh/id_ed25519 ($HOW): accepted" "$TMP/err" && [ "$(grep -c 'auth: ' "$TMP/err")" = 2 ]; then
  ok "SSHS_TRACE: the refused key, then the accepted one, two requests"
else not_ok "SSHS_TRACE: the refused key, then the accepted one, two requests" "$(grep 'auth: ' "$TMP/err")"; fi

# ... and to a password (a throw-away user of this run).
PWUSER=sshs_rt$$
PW='rt pw'
script pw.sshs <<'EOF'
with connect("127.0.0.1", {user = arg[1], key = arg[2], password = arg[3]}) do
  print($(whoami))
end
EOF
if password_user "$PWUSER" "$PW"; then
  RHOME=$X_HOME SSHS_TRACE=1 run_remote pw.sshs "$PWUSER" "$X_WRONG_KEY" "$PW"
  if [ "$rc" = 0 ] && [ "$out" = "$PWUSER" ]; then ok "a refused key file, then the password: logged in"; else not_ok "a refused key file, then the password: logged in" "$(show)"; fi
  if grep -q "auth: publickey $X_WRONG_KEY ($HOW): refused" "$TMP/err" && grep -q "auth: password (one request): accepted" "$TMP/err"; then
    ok "SSHS_TRACE: the key refused, the method list asked for, the password accepted"
  else not_ok "SSHS_TRACE: the key refused, the method list asked for, the password accepted" "$(grep 'auth: ' "$TMP/err")"; fi
else
  skip_checks 2 "cannot create the throw-away user $PWUSER (not root?)"
fi

# --- agent keys keep the query -------------------------------------------------------------------------
agent_two_keys "$TMP/agenthome"; agent=$?
if [ "$agent" = 2 ]; then
  skip_checks 2 "ssh-agent did not start: $AGENT_ERR"
else
  if [ "$agent" = 0 ]; then
    n0=$(log_lines)
    RHOME=$TMP/agenthome SSHS_TRACE=1 run_remote one.sshs
    settle "$n0"
    if [ "$rc" = 0 ] && [ "$out" = connected ]; then ok "two agent keys, the first refused: connected"; else not_ok "two agent keys, the first refused: connected" "$(show)"; fi
    n=$(log_since "$n0" | pk_requests)
    if [ "$n" = 3 ] && log_since "$n0" | grep -q "Postponed publickey"; then
      ok "agent keys: a query for each, a signature only for the accepted one (3 requests)"
    else not_ok "agent keys: a query for each, a signature only for the accepted one (3 requests)" "got $n" "$(log_since "$n0" | grep -i 'userauth\|Postponed')"; fi
  else
    not_ok "ssh-add loads the keys into a private agent" "$AGENT_ERR"; skip_checks 1 "no agent keys"
  fi
  agent_stop
fi
