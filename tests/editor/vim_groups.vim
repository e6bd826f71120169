" Checks editors/vim on tests/editor/sample.sshs: writes TAP lines to $OUT, one per row of
" $EXPECT whose VIMGROUP is not "-" (a Vim regex that some syntax group in the stack at
" LINE:COL must match; "!RE": none may), plus filetype detection by name and by #! line.
" Usage: vim -es -N -u NONE -i NONE --cmd 'set rtp^=REPO/editors/vim' -S vim_groups.vim
filetype on
syntax on
let s:out = []
function! s:check(good, what, ...) abort
  call add(s:out, (a:good ? 'ok' : 'not ok') . ' - vim: ' . a:what)
  if !a:good && a:0 | call add(s:out, '#   ' . a:1) | endif
endfunction
execute 'edit ' . fnameescape($SAMPLE)
call s:check(&filetype ==# 'sshs', '*.sshs is detected as sshs', 'filetype: ' . &filetype)
for s:row in filter(readfile($EXPECT), 'v:val !~# "^#" && v:val =~# "\\S"')
  let [s:l, s:c, s:pat; s:rest] = split(s:row)
  if s:pat ==# '-' | continue | endif
  let s:names = map(synstack(str2nr(s:l), str2nr(s:c)), 'synIDattr(v:val, "name")')
  let s:neg = s:pat[0] ==# '!'
  let s:re = s:neg ? s:pat[1:] : s:pat
  let s:hit = !empty(filter(copy(s:names), 'v:val =~# s:re'))
  call s:check(s:hit != s:neg, join(s:rest[1:], ' ') . ' (' . s:l . ':' . s:c . ' ' . s:pat . ')',
        \ 'groups there: ' . join(s:names, ' '))
endfor
execute 'edit ' . fnameescape($SHEBANG)
call s:check(&filetype ==# 'sshs', 'a file starting #!/usr/bin/env sshs is sshs', 'filetype: ' . &filetype)
call writefile(s:out, $OUT)
qa!
