" Vim syntax file for sshs scripts (.sshs): Lua 5.4 with shell parts.
"   $ cmd …          a command line (shell), to the end of the line (a trailing \ continues it)
"   $(cmd)  $?(cmd)  command substitution / test (shell)
"   $[[ … ]]         a shell block (any level: $[==[ … ]==])
"   #{expr}          Lua inside any of them
" Install: copy editors/vim/* into ~/.vim (Neovim: ~/.config/nvim), or the Debian package
" puts them in /usr/share/vim/vimfiles (Vim's and Neovim's default runtime path).
if exists('b:current_syntax')
  finish
endif

runtime! syntax/lua.vim
unlet! b:current_syntax
syntax include @sshsShell syntax/sh.vim
unlet! b:current_syntax
" A shell comment starts at # but not at #{ (that is Lua, below).
syn clear shComment shQuickComment
syn match shComment contained "\%(^\|\s\)\zs#{\@!.*$" contains=@shCommentGroup
syn match shQuickComment contained "#{\@!.*$" contains=@shCommentGroup

" The $ of a command line starts a statement or follows = ( , { return and or not .. (a
" look-behind: a keyword such as return would win over a match that starts on it).
syn region sshsCommand matchgroup=sshsDollar
      \ start=/\%(^\s*\|[=(,{]\s*\|\<return\s\+\|\<\%(and\|or\|not\)\s\+\|\.\.\s*\)\@<=\$\ze\s/
      \ skip=/\\$/ end=/$/ keepend contains=sshsInterp,@sshsShell
" Parentheses inside are the shell's own (subshells, $(…)), which sh.vim pairs.
syn region sshsSubst matchgroup=sshsDollar start=/\$?\=(/ end=/)/ contains=sshsInterp,@sshsShell
syn region sshsBlock matchgroup=sshsDollar start=/\$\[\z(=*\)\[/ end=/\]\z1\]/ keepend contains=sshsInterp,@sshsShell
" #{expr} (Lua) in any shell part; \#{ stays text.
" Braces inside are Lua's table constructors, which lua.vim pairs. (Only contained groups
" here: Neovim's lua.vim regions take ALLBUT, which would pull in any other contained one.)
syn region sshsInterp matchgroup=sshsInterpDelim start=/\\\@<!#{/ end=/}/ contained contains=TOP

hi def link sshsDollar      PreProc
hi def link sshsInterpDelim Special

let b:current_syntax = 'sshs'
