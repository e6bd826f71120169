#!/usr/bin/env bash
# The man page sshs.1: renders with man -l (and groff -ww) without a warning, and agrees with
# `sshs --help` and the README: every option of --help is documented in both, every option the
# page lists exists, and every environment variable the page names is in the README.
source "$TESTROOT/lib.sh"
plan 7
PAGE=$TESTROOT/../sshs.1
README=$TESTROOT/../README.md

if [ ! -f "$PAGE" ]; then
  for i in 1 2 3 4 5 6 7; do not_ok "sshs.1 exists" "$PAGE missing"; done; exit 0
fi
# Without a UTF-8 locale (CI may have none) man draws the name's dash as "--".
MANWIDTH=100 man --warnings -l "$PAGE" > "$TMP/page.txt" 2> "$TMP/warn"; rc=$?
if [ "$rc" = 0 ] && [ ! -s "$TMP/warn" ]; then ok "man --warnings -l sshs.1: exit 0, no warning"
else not_ok "man --warnings -l sshs.1: exit 0, no warning" "rc=$rc" "$(head -n 10 "$TMP/warn")"; fi
groff -mdoc -ww -z "$PAGE" 2> "$TMP/gwarn"; rc=$?
if [ "$rc" = 0 ] && [ ! -s "$TMP/gwarn" ]; then ok "groff -mdoc -ww: no warning"
else not_ok "groff -mdoc -ww: no warning" "$(head -n 10 "$TMP/gwarn")"; fi
if grep -q '^NAME' "$TMP/page.txt" && grep -q '^OPTIONS' "$TMP/page.txt" && grep -qE 'sshs (—|--) ' "$TMP/page.txt"; then
  ok "the rendered page has NAME and OPTIONS"
else not_ok "the rendered page has NAME and OPTIONS" "$(head -n 5 "$TMP/page.txt")"; fi

# Options of --help: "  -x ...", "  --json ...", "  --version, --help".
"$SSHS" --help > "$TMP/help" 2>&1
grep -oE '^  (-[A-Za-z]|--[a-z][a-z-]*)(, --[a-z-]+)?' "$TMP/help" | tr ',' '\n' | tr -d ' ' | sort -u > "$TMP/help_opts"
n=$(wc -l < "$TMP/help_opts")
missing_page=() missing_readme=()
while read -r o; do
  grep -qE -- "(^| )$o( |,|$)" "$TMP/page.txt" || missing_page+=("$o")
  grep -qF -- "\`$o" "$README" || missing_readme+=("$o")
done < "$TMP/help_opts"
if [ "$n" -ge 15 ] && [ ${#missing_page[@]} = 0 ]; then ok "every --help option ($n) is in the man page"
else not_ok "every --help option ($n) is in the man page" "missing: ${missing_page[*]}"; fi
if [ ${#missing_readme[@]} = 0 ]; then ok "every --help option is in the README"
else not_ok "every --help option is in the README" "missing: ${missing_readme[*]}"; fi

# Options the page lists (the OPTIONS section's tags) all exist in --help.
sed -n '/^OPTIONS/,/^FLEETS/p' "$TMP/page.txt" | grep -oE '^     (-[A-Za-z]|--[a-z][a-z-]*)' | tr -d ' ' | sort -u > "$TMP/page_opts"
extra=$(comm -23 "$TMP/page_opts" "$TMP/help_opts")
if [ -s "$TMP/page_opts" ] && [ -z "$extra" ]; then ok "every option the page lists exists in --help"
else not_ok "every option the page lists exists in --help" "not in --help: $extra"; fi

# Environment variables of the page are documented in the README too.
envs=$(sed -n '/^ENVIRONMENT/,/^FILES/p' "$TMP/page.txt" | grep -oE '\b[A-Z][A-Z_]{3,}\b' | grep -vx -e ENVIRONMENT -e FILES | sort -u)
miss=()
for v in $envs; do grep -qF "$v" "$README" || miss+=("$v"); done
if [ -n "$envs" ] && [ ${#miss[@]} = 0 ]; then ok "every environment variable of the page is in the README"
else not_ok "every environment variable of the page is in the README" "missing: ${miss[*]}"; fi
