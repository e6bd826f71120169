build-dev/obj/repl.o: interp/repl.c interp/repl.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/scheduler.h /usr/include/lua5.4/lauxlib.h \
 /usr/include/lua5.4/lua.h
interp/repl.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/scheduler.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
