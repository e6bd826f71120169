build-dev/obj/ssh_auth.o: interp/ssh_auth.c interp/ssh_auth.h \
 build/deps/include/libssh2.h interp/ssh.h interp/scheduler.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/ssh_params.h interp/ssh_alloc.h
interp/ssh_auth.h:
build/deps/include/libssh2.h:
interp/ssh.h:
interp/scheduler.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/ssh_params.h:
interp/ssh_alloc.h:
