build-dev/obj/l_pty.o: interp/l_pty.c interp/l_pty.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/scheduler.h interp/ssh.h interp/ssh_params.h interp/ssh_pty.h \
 interp/l_util.h /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/lua.h \
 interp/buf.h
interp/l_pty.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/scheduler.h:
interp/ssh.h:
interp/ssh_params.h:
interp/ssh_pty.h:
interp/l_util.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
interp/buf.h:
