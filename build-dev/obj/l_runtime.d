build-dev/obj/l_runtime.o: interp/l_runtime.c interp/l_runtime.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/scheduler.h interp/local.h interp/loader.h interp/l_remote.h \
 interp/l_command.h interp/output.h interp/buf.h interp/repl.h \
 interp/l_pty.h /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/lua.h \
 /usr/include/lua5.4/lualib.h
interp/l_runtime.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/scheduler.h:
interp/local.h:
interp/loader.h:
interp/l_remote.h:
interp/l_command.h:
interp/output.h:
interp/buf.h:
interp/repl.h:
interp/l_pty.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/lualib.h:
