build-dev/obj/scheduler.o: interp/scheduler.c interp/scheduler.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h interp/l_util.h \
 /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/lua.h
interp/scheduler.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/l_util.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
