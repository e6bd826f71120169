#!/usr/bin/env bash
# Shell completion (issue 22 item 2): completions/sshs.bash in a real bash and completions/_sshs
# in a real zsh (compinit), each driven in tmux with a temporary HOME: flags from --help,
# script files, -H/-x hosts from ~/.ssh/config (with Include), known_hosts and inventory
# groups (@web, after a comma too), @FILE, -o keywords and values, --shard, files for -F.
source "$TESTROOT/lib.sh"
source "$TESTROOT/tmux_lib.sh"
REPO=$(cd "$TESTROOT/.." && pwd)
plan 30
H=$TMP/home
mkdir -p "$H/.ssh/conf.d" "$H/proj/scripts"
cat > "$H/.ssh/config" <<'EOF'
Host web1 web2 *.lan
  User deploy
Host dbprimary
Include conf.d/*.conf
EOF
printf 'Host cacheone\n' > "$H/.ssh/conf.d/extra.conf"
printf 'oldbox,10.9.8.7 ssh-ed25519 AAAA\n[jumpbox]:2222 ssh-ed25519 AAAA\n|1|aGFzaA==|aGFzaA== ssh-ed25519 AAAA\n' > "$H/.ssh/known_hosts"
printf '[webfarm]\nweb1\n[dbfarm]\ndb1\n' > "$H/proj/hosts.ini"
printf 'web1\nweb2\n' > "$H/proj/hostlist.txt"
mkdir -p "$H/.local/state/sshs" "$H/proj/outdir"
printf 'ok web1\nfailed web2\n' > "$H/.local/state/sshs/last"      # the last fleet run (stdlib/_last.lua)
touch "$H/proj/deploy.sshs" "$H/proj/helpers.lua" "$H/proj/notes.txt" "$H/proj/custom_cfg"
BIN=$(dirname "$SSHS")
tm_cleanup() { tm_stop; rm -rf "$TMP"; }
trap tm_cleanup EXIT

# Starts SHELL_CMD in $H/proj and waits for its prompt ("READY> ").
start_shell() {
  tm_start "cd $(printf %q "$H/proj") && env -i HOME=$(printf %q "$H") TERM=xterm PATH=$(printf %q "$BIN:/usr/bin:/bin") LANG=C $1"
  if ! tm_wait 'READY>'; then not_ok "$2 starts" "$(tm_screen | tail -n 20)"; return 1; fi
}
# comp NAME TEXT REGEX: types TEXT, presses Tab (a list when ambiguous), expects REGEX on
# the screen (scrollback cleared first), then erases the line with Ctrl-U.
comp() {
  tm_send C-l; tm clear-history -t t; sleep 0.2
  tm_send -l "$2"; tm_send Tab
  tm_expect "$1" "$3"
  tm_settle
  tm_send C-u C-l; tm clear-history -t t
  tm_wait_last 'READY>$'
}

# ---- bash
cat > "$H/bashrc" <<EOF
PS1='READY> '
bind 'set show-all-if-ambiguous on' 2>/dev/null
bind 'set completion-query-items 0' 2>/dev/null
source $(printf %q "$REPO/completions/sshs.bash")
EOF
if start_shell "bash --noprofile --rcfile $(printf %q "$H/bashrc") -i" bash; then
  comp "bash: flags from --help" "sshs --in" 'sshs --inventory'
  comp "bash: all flags listed" "sshs -" '--emit-lua'
  comp "bash: script files (.sshs, .lua), not others" "sshs " 'deploy\.sshs.*helpers\.lua|helpers\.lua.*deploy\.sshs'
  tm_screen | grep -q 'notes\.txt' && not_ok "bash: a .txt file is not offered as a script" "$(tm_screen | tail -n 5)" || ok "bash: a .txt file is not offered as a script"
  comp "bash: -H from ssh config Host names" "sshs -H dbp" 'sshs -H dbprimary'
  comp "bash: -H from an Included config file" "sshs -H cach" 'sshs -H cacheone'
  comp "bash: -H from known_hosts ([host]:port too)" "sshs -H jum" 'sshs -H jumpbox'
  comp "bash: user@host" "sshs -H deploy@dbp" 'sshs -H deploy@dbprimary'
  comp "bash: -x after a comma" "sshs -H web1 -x web2,old" 'sshs -H web1 -x web2,oldbox'
  comp "bash: @group of --inventory" "sshs --inventory hosts.ini -H @webf" 'sshs --inventory hosts.ini -H @webfarm'
  comp "bash: @source:group (a : inside the word)" "sshs --inventory hosts.ini -H @hosts:dbf" 'sshs --inventory hosts.ini -H @hosts:dbfarm'
  comp "bash: @last:KIND of the last run" "sshs -H @last:fa" 'sshs -H @last:failed'
  comp "bash: --output-dir takes a folder" "sshs --output-dir outd" 'sshs --output-dir outdir/'
  comp "bash: @FILE" "sshs -H @./hostl" 'sshs -H @\./hostlist\.txt'
  comp "bash: -o keywords" "sshs -o StrictH" 'sshs -o StrictHostKeyChecking='
  comp "bash: -o values" "sshs -o StrictHostKeyChecking=acc" 'sshs -o StrictHostKeyChecking=accept-new'
  comp "bash: --shard" "sshs --shard 3/" '3/3 +3/4|3/4 +3/3'
fi

# ---- zsh
mkdir -p "$H/zdot"
cat > "$H/zdot/.zshrc" <<EOF
PS1='READY> '
fpath=($(printf %q "$REPO/completions") \$fpath)
autoload -U compinit && compinit -u -D
zstyle ':completion:*' list-prompt ''
zstyle ':completion:*' menu no
EOF
if start_shell "ZDOTDIR=$(printf %q "$H/zdot") zsh -i" zsh; then
  comp "zsh: flags from --help" "sshs --inv" 'sshs --inventory'
  comp "zsh: flag descriptions" "sshs --sh" 'shard'
  comp "zsh: script files" "sshs dep" 'sshs deploy\.sshs'
  comp "zsh: -H from ssh config Host names" "sshs -H dbp" 'sshs -H dbprimary'
  comp "zsh: -H from known_hosts" "sshs -H jum" 'sshs -H jumpbox'
  comp "zsh: -H after a comma" "sshs -H web1,cach" 'sshs -H web1,cacheone'
  comp "zsh: user@host" "sshs -H deploy@dbp" 'sshs -H deploy@dbprimary'
  comp "zsh: @group of --inventory" "sshs --inventory hosts.ini -H @dbf" 'sshs --inventory hosts\.ini -H @dbfarm'
  comp "zsh: @last:KIND of the last run" "sshs -H @last:fa" 'sshs -H @last:failed'
  comp "zsh: -o keywords" "sshs -o ProxyJ" 'sshs -o ProxyJump='
  comp "zsh: -o values" "sshs -o StrictHostKeyChecking=acc" 'sshs -o StrictHostKeyChecking=accept-new'
  comp "zsh: --shard" "sshs --shard au" 'sshs --shard auto'
  comp "zsh: -F files" "sshs -F custom_" 'sshs -F custom_cfg'
fi
