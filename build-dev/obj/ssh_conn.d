build-dev/obj/ssh_conn.o: interp/ssh_conn.c interp/ssh_conn.h \
 build/deps/include/libssh2.h interp/ssh.h interp/scheduler.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/ssh_params.h interp/ssh_auth.h interp/ssh_alloc.h \
 interp/ssh_hostkey.h interp/ssh_algs.h
interp/ssh_conn.h:
build/deps/include/libssh2.h:
interp/ssh.h:
interp/scheduler.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/ssh_params.h:
interp/ssh_auth.h:
interp/ssh_alloc.h:
interp/ssh_hostkey.h:
interp/ssh_algs.h:
