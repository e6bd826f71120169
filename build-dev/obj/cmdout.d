build-dev/obj/cmdout.o: interp/cmdout.c interp/cmdout.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h interp/buf.h \
 interp/output.h interp/scheduler.h /usr/include/lua5.4/lauxlib.h \
 /usr/include/lua5.4/lua.h
interp/cmdout.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/buf.h:
interp/output.h:
interp/scheduler.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
