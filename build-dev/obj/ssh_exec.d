build-dev/obj/ssh_exec.o: interp/ssh_exec.c interp/ssh_exec.h \
 interp/command.h interp/cmdout.h /usr/include/lua5.4/lua.h \
 /usr/include/lua5.4/luaconf.h interp/buf.h interp/output.h \
 interp/scheduler.h interp/ssh_chan.h interp/ssh_conn.h \
 build/deps/include/libssh2.h interp/ssh.h interp/ssh_params.h
interp/ssh_exec.h:
interp/command.h:
interp/cmdout.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/buf.h:
interp/output.h:
interp/scheduler.h:
interp/ssh_chan.h:
interp/ssh_conn.h:
build/deps/include/libssh2.h:
interp/ssh.h:
interp/ssh_params.h:
