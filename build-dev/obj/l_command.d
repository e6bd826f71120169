build-dev/obj/l_command.o: interp/l_command.c interp/l_command.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h interp/command.h \
 interp/cmdout.h interp/buf.h interp/output.h interp/scheduler.h \
 interp/l_util.h /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/lua.h
interp/l_command.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/command.h:
interp/cmdout.h:
interp/buf.h:
interp/output.h:
interp/scheduler.h:
interp/l_util.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
