# A key's passphrase asked for on a real terminal (tmux) while other threads go on: the prompt
# is read on the loop, so a ticker thread keeps ticking while it waits; the right passphrase
# connects, a wrong one fails saying so; echo is off while it asks and back on after every
# ending (answered, Ctrl-C, the connect timeout); two threads that need a passphrase are asked
# one after the other, each connection once; a thread's output and the progress line never
# write across the question: output goes above it, the progress line waits for the answer.
source "$TESTROOT/remote_lib.sh"
source "$TESTROOT/tmux_lib.sh"
CLEANUP+=("tm_stop")
plan 34

start_sshd "$TMP/psshd" || exit 1
KEYS=$TMP/keys
mkdir -p "$KEYS" "$TMP/home"
ssh-keygen -q -t ed25519 -N 'open sesame' -C enc -f "$KEYS/enc"
cat "$KEYS/enc.pub" >> "$X_DIR/authorized_keys"
export X_PORT X_KNOWN_HOSTS

# p.sshs TICKS N [TIMEOUT]: a thread appends a line to TICKS every 0.1 s while N threads
# connect with the encrypted key (no passphrase given: it is asked for); each prints WHO.
script p.sshs <<'EOF'
local ticks, n, limit = arg[1], tonumber(arg[2]), tonumber(arg[3])
local stop = false
local ticker = thread(function()
  local i = 0
  while not stop do
    i = i + 1
    local f = io.open(ticks, "a"); f:write("tick ", i, "\n"); f:close()
    sleep(0.1)
  end
end)
local o = {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"),
           key = os.getenv("KEYS") .. "/enc", agent = false, timeout = limit}
local function who()
  local fine, err = pcall(function()
    with connect("127.0.0.1", o) do print("WHO " .. $(whoami)) end
  end)
  if not fine then print("FAILED " .. tostring(err)) end
end
local ts = {}
for i = 1, n do ts[i] = thread(who) end
for i = 1, n do ts[i]:join() end
stop = true
ticker:join()
EOF

ticks() { [ -f "$TMP/ticks" ] && wc -l < "$TMP/ticks" || echo 0; }
# wait_ticks N: waits until N more ticks than now were written (60 s hang guard).
wait_ticks() {
  local from i; from=$(ticks)
  for ((i = 0; i < 600; i++)); do [ "$(ticks)" -ge $((from + $1)) ] && return 0; sleep 0.1; done
  return 1
}
# The command line: sshs, then its exit status and whether the terminal echoes again.
run_in_tmux() {
  rm -f "$TMP/ticks"
  tm_start "cd '$TMP' && HOME='$TMP/home' KEYS='$KEYS' '$SSHS' p.sshs '$TMP/ticks' $*; echo EXIT=\$?; stty -a | tr ' ;' '\n\n' | grep -x -- '-\\?echo' | sed 's/^/ECHO=/'"
}
prompt_re="Enter passphrase for key '$KEYS/enc':"
nprompts() { tm_screen | grep -c "Enter passphrase for key"; }

# --- the right passphrase, while a ticker thread ticks ---
run_in_tmux 1
tm_expect "the encrypted key's passphrase is asked for on the terminal" "$prompt_re"
if [ "$(stty -F "$(tm display-message -p -t t '#{pane_tty}')" -a | tr ' ;' '\n\n' | grep -x -- '-\?echo')" = "-echo" ]; then
  ok "echo is off while the prompt waits"
else not_ok "echo is off while the prompt waits" "$(stty -F "$(tm display-message -p -t t '#{pane_tty}')" -a)"; fi
if wait_ticks 5; then ok "a ticker thread keeps ticking while the prompt waits"
else not_ok "a ticker thread keeps ticking while the prompt waits" "ticks: $(ticks)" "$(tm_screen | tail -5)"; fi
tm_type 'open sesame'
tm_expect "the right passphrase connects" "^WHO $SSHS_TEST_USER\$"
tm_expect "... and the script ends well" '^EXIT=0$'
case "$(tm_screen)" in *"open sesame"*) not_ok "... the passphrase was not echoed" "$(tm_screen)";;
  *) ok "... the passphrase was not echoed";; esac
tm_expect "... and the terminal echoes again" '^ECHO=echo$'

# --- a wrong passphrase ---
run_in_tmux 1
tm_wait "$prompt_re"
tm_type 'not it'
tm_expect "a wrong passphrase fails saying so" "^FAILED .*authentication to .*127\.0\.0\.1 failed: .*key $KEYS/enc \(wrong passphrase\)"
tm_expect "... the script goes on and ends" '^EXIT=0$'
tm_expect "... and the terminal echoes again" '^ECHO=echo$'

# --- Ctrl-C while it asks ---
run_in_tmux 1
tm_wait "$prompt_re"
wait_ticks 2
tm_send C-c
tm_expect "Ctrl-C while the prompt waits interrupts the run" '^EXIT=130$'
tm_expect "... and the terminal echoes again" '^ECHO=echo$'

# --- the connect timeout ends the prompt ---
run_in_tmux 1 3
tm_wait "$prompt_re"
tm_expect "the connect timeout ends a prompt nobody answers" "^FAILED .*timed out after 3s authenticating"
tm_expect "... and the terminal echoes again" '^ECHO=echo$'

# --- two threads: one prompt at a time, each answered once ---
run_in_tmux 2
tm_wait "$prompt_re"
wait_ticks 5              # the loop has run a while: a second prompt would be on the screen now
if [ "$(nprompts)" = 1 ]; then ok "two threads need a passphrase: one prompt at a time"
else not_ok "two threads need a passphrase: one prompt at a time" "$(tm_screen)"; fi
tm_type 'open sesame'
for _ in $(seq 1 600); do [ "$(nprompts)" -ge 2 ] && break; sleep 0.1; done
tm_type 'open sesame'
tm_wait '^EXIT='
if [ "$(tm_screen | grep -c "^WHO $SSHS_TEST_USER\$")" = 2 ] && [ "$(nprompts)" = 2 ] && tm_screen | grep -q '^EXIT=0$'; then
  ok "... the second is asked when the first is answered, and both connect"
else not_ok "... the second is asked when the first is answered, and both connect" "$(tm_screen)"; fi

# --- a thread started at the REPL's prompt: the question takes the terminal from readline
tm_start "cd '$TMP' && HOME='$TMP/home' KEYS='$KEYS' '$SSHS'; echo EXIT=\$?"
tm_wait_last '^sshs>$'
tm_type 'h = thread(function() with connect("127.0.0.1", {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"), key = os.getenv("KEYS") .. "/enc", agent = false}) do return $(whoami) end end)'
tm_wait "$prompt_re"
tm_type 'open sesame'
tm_wait_last '^sshs>$'
tm_type 'print("JOINED " .. h:join())'
tm_expect "REPL: a thread's passphrase question gets the typed line (not readline), and connects" "^JOINED $SSHS_TEST_USER\$"
case "$(tm_screen)" in *"open sesame"*) not_ok "... the REPL neither echoed nor ran it" "$(tm_screen)";;
  *) ok "... the REPL neither echoed nor ran it";; esac
tm_send C-d
tm_expect "... and the REPL still reads lines (Ctrl-D leaves it)" '^EXIT=0$'

# --- output while the question waits: a thread prints a line every 0.1 s (and, with
# "progress", a progress line is up); the lines go above the question, which stays the last
# line, whole; the progress line is off the screen until the question is answered.
script out.sshs <<'EOF'
-- A thread writes while the question waits: with print (mode nil or "progress", the latter
-- with a progress line up), or with io.write, io.stdout:write, io.stderr:write and warn
-- (mode "luaio", every fifth round also a bad argument to io.stderr:write).
local core, done, mode = _SSHS.core, arg[1], arg[2]
if mode == "progress" then core.status("PROGRESS 42%") end
if mode == "luaio" then warn("@on") end
-- One round of writing; returns the pause before the next.
local function write_round(i)
  if mode ~= "luaio" then print("TICK " .. i); return 0.1 end
  io.write("IOW ", i, "\n")
  io.stdout:write("OUT ", i, "\n")
  io.stderr:write("ERR ", i, "\n")
  warn("WARN ", tostring(i))
  if i % 5 == 0 then print("BADARG " .. select(2, pcall(io.stderr.write, io.stderr, "x", {}))) end
  return 0.2
end
local stop = false
local ticker = thread(function()
  local i = 0
  while not stop do i = i + 1; sleep(write_round(i)) end
end)
with connect("127.0.0.1", {port = tonumber(os.getenv("X_PORT")), known_hosts = os.getenv("X_KNOWN_HOSTS"),
                           key = os.getenv("KEYS") .. "/enc", agent = false}) do
  print("WHO " .. $(whoami))
end
while not io.open(done) do sleep(0.1) end
stop = true
ticker:join()
if mode ~= "luaio" then core.status("") end
EOF
for progress in "" progress; do
  rm -f "$TMP/done"
  tm_start "cd '$TMP' && HOME='$TMP/home' KEYS='$KEYS' '$SSHS' out.sshs '$TMP/done' $progress; echo EXIT=\$?"
  tm_wait "$prompt_re"
  first=$(tm_screen | grep -o '^TICK [0-9]*' | tail -n 1 | cut -d' ' -f2)
  tm_wait "^TICK $(( ${first:-0} + 10 ))\$" 10       # 10 more lines while the question waits
  screen=$(tm_screen | grep -v '^$')
  with=${progress:+, with a progress line}
  if [ "$(tail -n 1 <<< "$screen")" = "Enter passphrase for key '$KEYS/enc':" ]; then
    ok "output while the question waits goes above it$with: the question stays the last line, whole"
  else not_ok "output while the question waits goes above it$with: the question stays the last line, whole" "$(tail -n 8 <<< "$screen")"; fi
  if ! grep -q 'TICK.*Enter passphrase\|Enter passphrase.*TICK\|PROGRESS' <<< "$screen"; then
    ok "... nothing is written across it$with"
  else not_ok "... nothing is written across it$with" "$(grep 'Enter passphrase\|PROGRESS' <<< "$screen")"; fi
  tm_type 'open sesame'
  tm_expect "... the answer connects$with" "^WHO $SSHS_TEST_USER\$"
  [ -n "$progress" ] && tm_expect "... and the progress line is back at the bottom after the answer" 'PROGRESS 42%$'
  touch "$TMP/done"
  tm_expect "... and the script ends well$with" '^EXIT=0$'
done

# --- Lua's own writes while the question waits: a thread writes with io.write,
# io.stdout:write, io.stderr:write and warn every 0.2 s; each goes above the question too.
rm -f "$TMP/done"
tm_start "cd '$TMP' && HOME='$TMP/home' KEYS='$KEYS' '$SSHS' out.sshs '$TMP/done' luaio; echo EXIT=\$?"
tm_wait "$prompt_re"
first=$(tm_screen | grep -o '^IOW [0-9]*' | tail -n 1 | cut -d' ' -f2)
last=$(( ${first:-0} + 5 ))
tm_wait "^Lua warning: WARN $last\$" 20        # 5 more rounds (one bad argument) while the question waits
screen=$(tm_screen | grep -v '^$')
if [ "$(tail -n 1 <<< "$screen")" = "Enter passphrase for key '$KEYS/enc':" ]; then
  ok "io.write, io.stdout:write, io.stderr:write, warn while the question waits go above it: the question stays the last line, whole"
else not_ok "io.write, io.stdout:write, io.stderr:write, warn while the question waits go above it: the question stays the last line, whole" "$(tail -n 8 <<< "$screen")"; fi
if [ "$(grep -c 'Enter passphrase' <<< "$screen")" = 1 ] && ! grep -q '\(IOW\|OUT\|ERR\|WARN\).*Enter passphrase\|Enter passphrase.*\(IOW\|OUT\|ERR\|WARN\)' <<< "$screen"; then
  ok "... nothing is written across it (one question line on the screen)"
else not_ok "... nothing is written across it (one question line on the screen)" "$(tail -n 12 <<< "$screen")"; fi
if grep -qx "IOW $last" <<< "$screen" && grep -qx "OUT $last" <<< "$screen" && grep -qx "ERR $last" <<< "$screen"; then
  ok "... each write is a whole line of its own above it"
else not_ok "... each write is a whole line of its own above it" "$(tail -n 12 <<< "$screen")"; fi
if grep -q "^BADARG bad argument #3 to '?' (string expected, got table)\$" <<< "$screen" && grep -qx "Lua warning: WARN $last" <<< "$screen"; then
  ok "... a bad argument raises as before, and the writes after it still go above"
else not_ok "... a bad argument raises as before, and the writes after it still go above" "$(tail -n 12 <<< "$screen")"; fi
tm_type 'open sesame'
tm_expect "... the answer connects" "^WHO $SSHS_TEST_USER\$"
touch "$TMP/done"
tm_expect "... and the script ends well" '^EXIT=0$'
