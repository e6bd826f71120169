build-dev/obj/ssh_tunnel.o: interp/ssh_tunnel.c interp/ssh_tunnel.h \
 interp/ssh_chan.h interp/ssh_conn.h build/deps/include/libssh2.h \
 interp/ssh.h interp/scheduler.h /usr/include/lua5.4/lua.h \
 /usr/include/lua5.4/luaconf.h interp/ssh_params.h
interp/ssh_tunnel.h:
interp/ssh_chan.h:
interp/ssh_conn.h:
build/deps/include/libssh2.h:
interp/ssh.h:
interp/scheduler.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/ssh_params.h:
