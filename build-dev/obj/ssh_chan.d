build-dev/obj/ssh_chan.o: interp/ssh_chan.c interp/ssh_chan.h \
 interp/ssh_conn.h build/deps/include/libssh2.h interp/ssh.h \
 interp/scheduler.h /usr/include/lua5.4/lua.h \
 /usr/include/lua5.4/luaconf.h interp/ssh_params.h
interp/ssh_chan.h:
interp/ssh_conn.h:
build/deps/include/libssh2.h:
interp/ssh.h:
interp/scheduler.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/ssh_params.h:
