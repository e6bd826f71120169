# console(): one shell with a pty per block, on a remote session and on the local one: cd and
# variables persist, each command's output and exit code are exact (no trailing newline, a
# line that fakes a marker, stderr merged), send/expect with a small interactive program, a
# timed-out command followed by a working one, a shell that exited.
source "$TESTROOT/remote_lib.sh"
plan 88

cat > "$TMP/ask.sh" <<'EOS'
printf 'Name? '
read n
echo "Hi $n"
printf 'Age? '
read a
echo "Age $a"
EOS
mkdir -p "$TMP/d/sub"

script console.sshs <<'EOF'
local T = require "t"
local where, tmp = ...
local tag = where .. ": "
local mark = "4715" .. T.pid            -- a sleep argument no other process has
local function body()
  with console() as c do
    $ cd #{tmp}/d
    $ export FOO=bar
    $ BAZ=qux
    T.eq(tag .. "cd persists between commands", $(pwd), tmp .. "/d")
    T.eq(tag .. "variables persist (exported and not)", $(echo "$FOO $BAZ"), "bar qux")
    local r = $ printf 'a\nb\n'
    T.eq(tag .. "stdout is exact, line ends are \\n (no CRLF)", r.stdout, "a\nb\n")
    T.eq(tag .. "exit code 0", r.exitcode, 0)
    r = $ printf 'no newline'
    T.eq(tag .. "output without a trailing newline stays so", r.stdout, "no newline")
    r = $ printf '\036SSHS-0123456789abcdef0123456789abcdef-9:0\036\n'; echo after
    T.eq(tag .. "a line that looks like a marker is output", r.stdout,
         "\030SSHS-0123456789abcdef0123456789abcdef-9:0\030\nafter\n")
    r = $ echo to-stderr >&2
    T.eq(tag .. "stderr comes with stdout (one pty stream)", r.stdout, "to-stderr\n")
    T.eq(tag .. "stderr field is empty in a console", r.stderr, "")
    with check(false) do
      r = $ (exit 7)
    end
    T.eq(tag .. "exit code of a failing command", r.exitcode, 7)
    r = run("echo (", {check = false})
    T.eq(tag .. "a command with a syntax error fails with status 2 (no hang)", r.exitcode, 2)
    T.has(tag .. "... and says why", r.stdout, "rror")
    T.eq(tag .. "a lone } is a syntax error too", run("}", {check = false}).exitcode, 2)
    T.eq(tag .. "a heredoc in a console command", run("cat <<'EOT'\na } b\nEOT").stdout, "a } b\n")
    T.eq(tag .. "the shell is fine after them", $(echo ok-after), "ok-after")
    T.eq(tag .. "a command line longer than a terminal line (4095 bytes)", $(echo #{string.rep("x", 6000)} | wc -c), "6001")
    local odd = string.rep("a'b\\\"c$d `e` ", 2000)
    T.eq(tag .. "... a long value full of quotes arrives intact", $(printf %s #{odd} | md5sum), (T.sh("printf %s " .. _SSHS.quote(odd) .. " | md5sum"):gsub("\n$", "")))
    T.eq(tag .. "a program reading the terminal gets only what is sent", run("head -c 0", {check = false}).exitcode, 0)
    local msg, e = T.fails(function() $ false end)
    T.has(tag .. "check: a failing command raises", msg, "command failed")
    T.eq(tag .. "check: the error has the exit code", type(e) == "table" and e.exitcode, 1)
    $[[
      cd sub
      X=inblock
    ]]
    T.eq(tag .. "a $[[ ]] block runs in the same shell", $(pwd) .. " " .. $(echo $X), tmp .. "/d/sub inblock")
    $ cd ..
    with cd("sub") do
      T.eq(tag .. "with cd() inside a console applies to its commands", $(pwd), tmp .. "/d/sub")
    end
    T.eq(tag .. "... and not after the block", $(pwd), tmp .. "/d")
    T.eq(tag .. "$ last result is the console's", $.stdout, tmp .. "/d\n")

    c:send("sh " .. tmp .. "/ask.sh\n")
    T.eq(tag .. "expect returns text up to the match", c:expect("Name%? "), "Name? ")
    c:send("Ann\n")
    T.like(tag .. "expect a pattern after send", c:expect("Hi %a+"), "Hi Ann$")
    c:expect("Age%? ")
    c:send("7\n")
    T.like(tag .. "the program answers the second question", c:expect("Age %d+\n"), "Age 7\n$")
    c:send("echo seen-last-$((6 * 7))\n")
    local m = T.fails(c.expect, c, "never%-appears", 1)
    T.has(tag .. "expect that never matches raises after its timeout", m, "not seen within 1s")
    T.has(tag .. "... saying what it saw last", m, "seen-last-42")

    with check(false) do with timeout(1) do
      r = $ sleep #{raw(mark)}; echo not-reached
    end end
    T.eq(tag .. "a command past its timeout is stopped", r.timed_out, true)
    T.lacks(tag .. "... before it finished", r.stdout, "not-reached")
    T.eq(tag .. "the console works after a timed-out command", $(echo works), "works")
    T.eq(tag .. "... in the same shell (cd kept)", $(pwd), tmp .. "/d")
    T.ok(tag .. "the timed-out command's process is gone",
      T.wait_for(function() return not T.sh("pgrep -f '^sleep " .. mark .. "$' || true"):find("%d") end, 30))
  end
  -- A shell that exits: the next command raises at once instead of hanging.
  with console() as c2 do
    c2:send("exit\n")
    local msg = T.fails(function() $ echo never end)
    T.like(tag .. "a console whose shell exited raises on the next command", msg, "console: the shell on .* ended")
    T.lacks(tag .. "... at once (not by a timeout)", msg, "timed out")
  end
end
if where == "local" then body() else
  with connect(where) do body() end
end
print("ok - " .. tag .. "the script ran to the end")
EOF
LIMIT=120 lua_checks console.sshs 127.0.0.4 "$TMP"
LIMIT=120 lua_checks console.sshs local "$TMP"

# A wait whose time is already up when the loop next turns (a 0 ms timer fires before the
# poll): the woken thread must run at once, not sit until some unrelated event (it hung).
got=$(cd "$TMP" && HOME=$SSHS_TEST_HOME timeout -k 3 60 "$SSHS" -e \
  'with console() as c do print(pcall(c.expect, c, "never", 0.0001)) end print("end")' 2>&1 < /dev/null)
rc=$?
if [ "$rc" = 0 ] && [[ $got == *"not seen within"*end* ]]; then ok "an expect whose time is up before the loop polls returns at once"
else not_ok "an expect whose time is up before the loop polls returns at once" "rc=$rc" "$got"; fi

# A read's time limit counts from the read, also after Lua that ran 2 s without yielding
# (libuv's cached loop time is that old then): a shell that prints after 1 s is heard by a
# 2.5 s read (started from the old time, the limit ran out after 0.5 s and the read gave "").
printf '#!/bin/sh\nsleep 1; echo late-line\n' > "$TMP/late.sh"; chmod +x "$TMP/late.sh"
got=$(timeout -k 3 60 "$SSHS" -e "local clock = _SSHS.core.clock
  local t = clock() while clock() - t < 2 do end
  local p = _SSHS.core.pty_local{shell = '$TMP/late.sh'}
  print(p:read(2.5)) p:close()" 2>&1 < /dev/null)
case "$got" in late-line*) ok "a pty read after busy Lua waits its whole time limit";;
  *) not_ok "a pty read after busy Lua waits its whole time limit" "got: $got";; esac

# Without a pidfd (old kernels, valgrind; SSHS_NO_PIDFD=1 makes it so) a local console's
# shell is still watched: reaped once it has ended, not left a zombie while sshs runs on.
cat > "$TMP/nopidfd.sshs" <<'EOS'
local function state(pid)
  local f = io.popen("ps -o stat= -p " .. pid); local s = f:read("a"); f:close()
  return (s:gsub("%s", ""))
end
local function reaped(pid)
  for _ = 1, 600 do if state(pid) == "" then return "reaped" end sleep(0.1) end
  return "not reaped: " .. state(pid)
end
local pid
with console() as c do pid = $(echo $$) end
print("closed: " .. reaped(pid))
with console() as c do
  pid = $(echo $$)
  c:send("exit\n")
  print("exited: " .. reaped(pid))
end
EOS
got=$(SSHS_NO_PIDFD=1 timeout -k 3 120 "$SSHS" "$TMP/nopidfd.sshs" 2>&1 < /dev/null)
for what in closed exited; do
  case "$got" in *"$what: reaped"*) ok "no pidfd: a local console's shell is reaped once $what";;
    *) not_ok "no pidfd: a local console's shell is reaped once $what" "got: $got";; esac
done

# SIGTERM while a console command runs: sshs ends, and neither the shell nor its command is
# left behind (locally the pty is hung up; remotely the channel closes).
for where in local 127.0.0.4; do
  n=472${#where}$$
  code="with console() as c do \$ sleep $n end"
  [ "$where" = local ] || code="with connect('$where') do $code end"
  HOME=$SSHS_TEST_HOME timeout -k 3 60 "$SSHS" -e "$code" > /dev/null 2>&1 < /dev/null &
  pid=$!
  wait_proc "^sleep $n\$"
  kill -TERM "$pid"
  for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done   # a hang guard
  if kill -0 "$pid" 2> /dev/null; then not_ok "$where: SIGTERM during a console command ends sshs"; kill -9 "$pid"
  else ok "$where: SIGTERM during a console command ends sshs"; fi
  wait "$pid" 2> /dev/null
  wait_gone "^sleep $n\$"
  no_leftover "^sleep $n\$" "$where: ... and its command is not left running"
done

# console{shell = path}: that shell instead of the login shell (bash here), remote and local;
# zsh too (a common login shell): its line editor and its `command` (programs only, unless
# POSIX_BUILTINS) are set up so that the console works the same.
cat > "$TMP/shellopt.sshs" <<'EOS'
local where, shell = ...
local function body()
  with console{shell = shell} as c do
    $ cd /tmp
    $ V=kept
    local r = run("printf 'x\\ny'; (exit 3)", {check = false})
    print(where .. ": " .. $(echo "$0"):gsub("^-", "") .. " " .. $(echo "$PWD $V") .. " " ..
          (r.stdout:gsub("\n", "|")) .. " " .. r.exitcode)
  end
end
if where == "local" then body() else with connect(where) do body() end end
EOS
for shell in /bin/dash /usr/bin/zsh; do
  for where in 127.0.0.4 local; do
    if [ ! -x "$shell" ]; then skip_checks 2 "$shell is not installed"; continue; fi
    got=$(HOME=$SSHS_TEST_HOME timeout -k 3 60 "$SSHS" "$TMP/shellopt.sshs" "$where" "$shell" 2>&1 < /dev/null)
    case "$got" in "$where: $shell "*) ok "$where: console{shell = $shell} runs that shell";;
      *) not_ok "$where: console{shell = $shell} runs that shell" "got: $got";; esac
    want="$where: $shell /tmp kept x|y 3"
    if [ "$got" = "$want" ]; then ok "$where: ... cd and variables persist, output and exit code exact"
    else not_ok "$where: ... cd and variables persist, output and exit code exact" "want: $want" "got:  $got"; fi
  done
done
