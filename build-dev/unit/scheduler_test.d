build-dev/unit/scheduler_test.o: tests/unit/scheduler_test.c \
 interp/scheduler.h /usr/include/lua5.4/lua.h \
 /usr/include/lua5.4/luaconf.h tests/unit/check.h \
 /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/lua.h \
 /usr/include/lua5.4/lualib.h
interp/scheduler.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
tests/unit/check.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/lualib.h:
