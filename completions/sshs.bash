# bash completion for sshs (installed as /usr/share/bash-completion/completions/sshs; or
# `source` it from ~/.bashrc). The flags come from `sshs --help`, so new ones complete too.
#   -H/-x    node sets: ~/.ssh/config Host names, ~/.ssh/known_hosts, @group of inventories
#            (SSHS_INVENTORY, --inventory on the line), @last:KIND of the last run, @FILE;
#            after a comma, the next host
#   -o       the ssh_config keywords sshs knows (KEY=), then values of a few of them
#   --shard  auto, I/N;  -F, --identity, --inventory, --summary: files;  --output-dir:
#            folders;  -l: users
#   else     script files (*.sshs, *.lua) and folders; after the script, its arguments: files

# "FLAG" or "FLAG ARG" for each flag of `sshs --help` (ARG: the flag takes a value).
_sshs_flags() {
  "$1" --help 2>/dev/null | awk '/^  -/ {
    for (i = 1; i <= NF; i++) {
      f = $i; sub(/,$/, "", f)
      if (f !~ /^-/) break
      if ($(i + 1) ~ /^[A-Z[]/) { print f " ARG"; break }
      print f
    } }'
}

# The ssh_config keywords sshs accepts (its own error message lists them).
_sshs_okeys() {
  "$1" -o _=_ -e '' 2>&1 | sed -n 's/.*(it knows \(.*\))$/\1/p' | tr -d ',' | tr ' ' '\n'
}

_sshs() {
  local sshs=${COMP_WORDS[0]} word line i w prev cfg= inv=
  # The word under the cursor as the user sees it (bash splits it at = and :).
  line=${COMP_LINE:0:COMP_POINT}
  word=${line##*[[:space:]]}
  local -a words
  read -ra words <<< "$line"
  [ -n "$word" ] && unset 'words[${#words[@]}-1]'
  prev=${words[${#words[@]}-1]}

  local flags argflags=" "
  flags=$(_sshs_flags "$sshs")
  while read -r f a; do [ -n "$a" ] && argflags+="$f "; done <<< "$flags"

  # The script's position: the first word that is not a flag or a flag's value.
  for ((i = 1; i < ${#words[@]}; i++)); do
    w=${words[i]}
    case "$w" in
      --) i=$((i + 1)); break ;;
      -F) cfg=${words[i+1]:-} ;;
      --inventory) inv+=${inv:+:}${words[i+1]:-} ;;
    esac
    if [[ $argflags == *" $w "* ]]; then i=$((i + 1)); continue; fi
    case "$w" in -e|--summary) i=${#words[@]}; break ;; -*) continue ;; esac
    break
  done
  local reply=()
  if ((i < ${#words[@]})); then                    # after the script: its arguments
    mapfile -t reply < <(compgen -f -- "$word")
  else
    case "$prev" in
      -H|-x)
        local head=${word%"${word##*,}"} cur=${word##*,}
        if [[ $cur == @* && ( $cur == */* || $cur == .* || $cur == @~* || $cur == @.* ) ]]; then
          mapfile -t reply < <(compgen -f -- "${cur#@}" | sed 's/^/@/')
        else
          local env_inv=${SSHS_INVENTORY:-} user=
          [ -n "$inv" ] && env_inv=${env_inv:+$env_inv:}$inv
          if [[ $cur == [!@]*@* ]]; then user=${cur%%@*}@; cur=${cur#*@}; fi    # user@host
          mapfile -t reply < <(SSHS_INVENTORY=$env_inv "$sshs" -e 'require("_complete").hosts(...)' "$cfg" 2>/dev/null |
                               awk -v c="$cur" -v u="$user" 'index($0, c) == 1 && !(u != "" && /^@/)')
          head+=$user
        fi
        reply=("${reply[@]/#/$head}")
        ;;
      -o)
        if [[ $word == *=* ]]; then
          local k=${word%%=*}
          case "${k,,}" in
            stricthostkeychecking) mapfile -t reply < <(compgen -W "yes no accept-new" -P "$k=" -- "${word#*=}") ;;
            identityfile|userknownhostsfile) mapfile -t reply < <(compgen -f -P "$k=" -- "${word#*=}") ;;
          esac
        else
          mapfile -t reply < <(compgen -W "$(_sshs_okeys "$sshs")" -S = -- "$word")
          compopt -o nospace 2>/dev/null
        fi
        ;;
      --shard)
        local n j cands="auto"
        for n in 2 3 4 5 6 7 8; do for ((j = 1; j <= n; j++)); do cands+=" $j/$n"; done; done
        mapfile -t reply < <(compgen -W "$cands" -- "$word")
        ;;
      -l) mapfile -t reply < <(compgen -u -- "$word") ;;
      -F|--identity|--inventory|--summary) mapfile -t reply < <(compgen -f -- "$word") ;;
      --output-dir) mapfile -t reply < <(compgen -d -S / -- "$word"); compopt -o nospace 2>/dev/null ;;
      -e|-f|-p) ;;
      *)
        if [[ $word == -* ]]; then
          mapfile -t reply < <(compgen -W "$(cut -d' ' -f1 <<< "$flags")" -- "$word")
        else
          mapfile -t reply < <(compgen -d -S / -- "$word"; compgen -f -X '!*.@(sshs|lua)' -- "$word")
          [ ${#reply[@]} -gt 0 ] && [[ ${reply[0]} == */ ]] && compopt -o nospace 2>/dev/null
        fi
        ;;
    esac
  fi
  # readline replaces the text after the word's last = or : (of COMP_WORDBREAKS): drop what
  # lies before it.
  local before= tail=$word
  [[ $COMP_WORDBREAKS == *=* ]] && tail=${tail##*=}
  [[ $COMP_WORDBREAKS == *:* ]] && tail=${tail##*:}
  # An @ breaks the word too but stays in it (bash's special prefixes: user@host replaces @host).
  [[ $COMP_WORDBREAKS == *@* && $tail == *@* ]] && tail=@${tail##*@}
  before=${word%"$tail"}
  COMPREPLY=()
  for w in "${reply[@]}"; do COMPREPLY+=("${w#"$before"}"); done
}
shopt -s extglob
complete -F _sshs sshs
