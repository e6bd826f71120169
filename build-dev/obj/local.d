build-dev/obj/local.o: interp/local.c interp/local.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/scheduler.h interp/command.h interp/cmdout.h interp/buf.h \
 interp/output.h interp/l_command.h /usr/include/lua5.4/lauxlib.h \
 /usr/include/lua5.4/lua.h
interp/local.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/scheduler.h:
interp/command.h:
interp/cmdout.h:
interp/buf.h:
interp/output.h:
interp/l_command.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
