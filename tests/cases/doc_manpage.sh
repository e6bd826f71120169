#!/usr/bin/env bash
# The man page sshs.1: renders with man -l (and groff -ww) without a warning, and agrees with
# `sshs --help` and the docs (README.md and docs/): every option of --help is documented in both,
# every option the page lists exists, and every environment variable the page names is in the
# docs. The docs themselves: the README stays short, and every relative link in README.md and
# docs/ reaches an existing file (and, for a #anchor, a heading of that file).
source "$TESTROOT/lib.sh"
plan 9
ROOT=$TESTROOT/..
PAGE=$ROOT/sshs.1
README=$ROOT/README.md
mapfile -t MDS < <(cd "$ROOT" && { echo README.md; find docs -name '*.md' | LC_ALL=C sort; })
DOCS=$TMP/docs.txt
(cd "$ROOT" && cat "${MDS[@]}") > "$DOCS"

if [ ! -f "$PAGE" ]; then
  for i in 1 2 3 4 5 6 7 8 9; do not_ok "sshs.1 exists" "$PAGE missing"; done; exit 0
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
  grep -qF -- "\`$o" "$DOCS" || missing_readme+=("$o")
done < "$TMP/help_opts"
if [ "$n" -ge 15 ] && [ ${#missing_page[@]} = 0 ]; then ok "every --help option ($n) is in the man page"
else not_ok "every --help option ($n) is in the man page" "missing: ${missing_page[*]}"; fi
if [ ${#missing_readme[@]} = 0 ]; then ok "every --help option is in the docs (README.md, docs/)"
else not_ok "every --help option is in the docs (README.md, docs/)" "missing: ${missing_readme[*]}"; fi

# Options the page lists (the OPTIONS section's tags) all exist in --help.
sed -n '/^OPTIONS/,/^FLEETS/p' "$TMP/page.txt" | grep -oE '^     (-[A-Za-z]|--[a-z][a-z-]*)' | tr -d ' ' | sort -u > "$TMP/page_opts"
extra=$(comm -23 "$TMP/page_opts" "$TMP/help_opts")
if [ -s "$TMP/page_opts" ] && [ -z "$extra" ]; then ok "every option the page lists exists in --help"
else not_ok "every option the page lists exists in --help" "not in --help: $extra"; fi

# Environment variables of the page are documented in the docs too.
envs=$(sed -n '/^ENVIRONMENT/,/^FILES/p' "$TMP/page.txt" | grep -oE '\b[A-Z][A-Z_]{3,}\b' | grep -vx -e ENVIRONMENT -e FILES | sort -u)
miss=()
for v in $envs; do grep -qF "$v" "$DOCS" || miss+=("$v"); done
if [ -n "$envs" ] && [ ${#miss[@]} = 0 ]; then ok "every environment variable of the page is in the docs"
else not_ok "every environment variable of the page is in the docs" "missing: ${miss[*]}"; fi

# The README is the newcomer's page: what it is, install, a first script, a first fleet run,
# where to go next; the reference lives in docs/reference/.
n=$(wc -l < "$README")
if [ "$n" -le 250 ]; then ok "README.md is at most 250 lines ($n)"
else not_ok "README.md is at most 250 lines" "it has $n: move reference material to docs/reference/"; fi

# Anchors of a markdown file, as GitHub makes them: headings outside code fences, lower case,
# punctuation dropped, spaces to '-', a repeated heading gets -1, -2 ...
anchors() {
  LC_ALL=C awk '/^```/ { fence = !fence; next }
    !fence && /^#+ / { s = $0; sub(/^#+ /, "", s); s = tolower(s); gsub(/[^a-z0-9 _-]/, "", s)
      gsub(/ /, "-", s); if (s in seen) { seen[s]++; print s "-" seen[s] } else { seen[s] = 0; print s } }' "$1"
}
# Every relative link [text](target) outside code (fences and `spans`) must resolve.
broken=() nlinks=0
for md in "${MDS[@]}"; do
  dir=$(dirname "$ROOT/$md")
  while read -r target; do
    nlinks=$((nlinks + 1))
    case $target in *://*|mailto:*) continue ;; esac
    path=${target%%#*} anchor=
    [ "$path" != "$target" ] && anchor=${target#*#}
    if [ -z "$path" ]; then file=$ROOT/$md; else file=$dir/$path; fi
    if [ ! -e "$file" ]; then broken+=("$md: ($target): no such file"); continue; fi
    if [ -n "$anchor" ]; then
      case $file in
        *.md) anchors "$file" | grep -qxF -- "$anchor" || broken+=("$md: ($target): no such heading") ;;
        *) broken+=("$md: ($target): an anchor into a file that is not markdown") ;;
      esac
    fi
  done < <(LC_ALL=C awk '/^```/ { fence = !fence; next } !fence' "$ROOT/$md" | sed 's/`[^`]*`//g' |
           grep -oE '\]\([^) ]+\)' | sed -E 's/^\]\((.*)\)$/\1/')
done
if [ "$nlinks" -ge 20 ] && [ ${#broken[@]} = 0 ]; then ok "every relative link in README.md and docs/ resolves ($nlinks links)"
else not_ok "every relative link in README.md and docs/ resolves ($nlinks links)" "${broken[@]}"; fi
