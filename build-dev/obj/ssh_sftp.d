build-dev/obj/ssh_sftp.o: interp/ssh_sftp.c interp/ssh_sftp.h \
 interp/buf.h interp/scheduler.h /usr/include/lua5.4/lua.h \
 /usr/include/lua5.4/luaconf.h interp/ssh_conn.h \
 build/deps/include/libssh2.h interp/ssh.h interp/ssh_params.h \
 interp/ssh_chan.h build/deps/include/libssh2_sftp.h \
 build/deps/include/libssh2.h
interp/ssh_sftp.h:
interp/buf.h:
interp/scheduler.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/ssh_conn.h:
build/deps/include/libssh2.h:
interp/ssh.h:
interp/ssh_params.h:
interp/ssh_chan.h:
build/deps/include/libssh2_sftp.h:
build/deps/include/libssh2.h:
