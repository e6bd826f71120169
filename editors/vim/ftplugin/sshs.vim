" sshs: Lua's settings (comments, indentation) for .sshs files.
if exists('b:did_ftplugin')
  finish
endif
runtime! ftplugin/lua.vim
runtime! indent/lua.vim
