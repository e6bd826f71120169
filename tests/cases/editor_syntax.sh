#!/usr/bin/env bash
# Editor support (issue 22 item 3): the Vim syntax + ftdetect (editors/vim) and the TextMate
# grammar (editors/textmate/sshs.tmLanguage.json), each checked on tests/editor/sample.sshs at
# the positions of tests/editor/expect.txt: Lua stays Lua, $ …, $(…), $?(…), $[[…]] are shell,
# #{…} inside them is Lua again. Vim (vim -es) and Neovim (nvim --headless): synstack(). TextMate: vscode-textmate +
# vscode-oniguruma (the engine VS Code uses) with the Lua and shell grammars of tm-grammars,
# pinned versions from npm, installed once into build/npm-textmate.
source "$TESTROOT/lib.sh"
REPO=$(cd "$TESTROOT/.." && pwd)
ED=$REPO/tests/editor
rows=$(grep -cvE '^#|^\s*$' "$ED/expect.txt")
vimrows=$(grep -vE '^#|^\s*$' "$ED/expect.txt" | awk '$3 != "-"' | wc -l)
plan $((2 * (vimrows + 2) + rows))

# ---- Vim and Neovim (the same files; Neovim's own lua.vim differs from Vim's)
printf '#!/usr/bin/env sshs\n$ uptime\n' > "$TMP/deploy"
vim_checks() { # NAME COMMAND...
  local name=$1; shift
  if ! command -v "$1" >/dev/null; then
    skip_checks $((vimrows + 2)) "$name is not installed (scripts/install-deps.sh installs it)"; return
  fi
  rm -f "$TMP/vim.tap"
  SAMPLE=$ED/sample.sshs EXPECT=$ED/expect.txt SHEBANG=$TMP/deploy OUT=$TMP/vim.tap \
    timeout 60 "$@" --cmd "set rtp^=$REPO/editors/vim" -S "$ED/vim_groups.vim" < /dev/null > "$TMP/vim.err" 2>&1
  if [ -s "$TMP/vim.tap" ]; then sed "s/^\(\(not \)\?ok - \)vim: /\1$name: /" "$TMP/vim.tap"
  else not_ok "$name checks ran" "$(cat "$TMP/vim.err")"; skip_checks $((vimrows + 1)) "$name did not run"; fi
}
vim_checks vim vim -es -N -u NONE -i NONE
vim_checks nvim nvim --headless -u NONE -i NONE

# ---- TextMate
NM=$REPO/build/npm-textmate
PKGS="vscode-textmate@9.4.0 vscode-oniguruma@2.0.1 tm-grammars@1.32.22"
if [ "$(cat "$NM/.pkgs" 2>/dev/null)" != "$PKGS" ] && command -v npm >/dev/null; then
  # Installed into a folder of our own, then renamed into place: two runs at once do not mix.
  mkdir -p "$REPO/build"
  tmpd=$(mktemp -d "$NM.tmp.XXXXXX")
  # shellcheck disable=SC2086
  if (cd "$tmpd" && timeout 300 npm install --no-audit --no-fund --ignore-scripts --no-save $PKGS) > "$TMP/npm.log" 2>&1; then
    echo "$PKGS" > "$tmpd/.pkgs"
    [ "$(cat "$NM/.pkgs" 2>/dev/null)" = "$PKGS" ] || { rm -rf "$NM"; mv -T "$tmpd" "$NM" 2>/dev/null; }
  fi
  rm -rf "$tmpd"
fi
if ! command -v node >/dev/null; then
  skip_checks "$rows" "node is not installed"
elif [ "$(cat "$NM/.pkgs" 2>/dev/null)" != "$PKGS" ]; then
  not_ok "npm install $PKGS" "$(tail -n 5 "$TMP/npm.log" 2>/dev/null)"; skip_checks $((rows - 1)) "npm packages missing"
else
  node "$ED/textmate_scopes.js" "$NM/node_modules" "$REPO/editors/textmate/sshs.tmLanguage.json" "$ED/sample.sshs" "$ED/expect.txt" | grep -v '^1\.\.'
fi
