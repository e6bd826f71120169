build-dev/obj/loader.o: interp/loader.c interp/loader.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h interp/preproc.h \
 interp/embedded.h /usr/include/lua5.4/lauxlib.h \
 /usr/include/lua5.4/lua.h
interp/loader.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/preproc.h:
interp/embedded.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
