build-dev/obj/main.o: interp/main.c interp/l_runtime.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h interp/loader.h \
 interp/scheduler.h interp/local.h interp/l_remote.h interp/ssh_params.h \
 interp/repl.h interp/l_pty.h /usr/include/lua5.4/lauxlib.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/lualib.h
interp/l_runtime.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/loader.h:
interp/scheduler.h:
interp/local.h:
interp/l_remote.h:
interp/ssh_params.h:
interp/repl.h:
interp/l_pty.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/lualib.h:
