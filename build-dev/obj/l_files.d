build-dev/obj/l_files.o: interp/l_files.c interp/l_files.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/l_remote.h interp/ssh_sftp.h interp/buf.h interp/scheduler.h \
 /usr/include/lua5.4/lauxlib.h /usr/include/lua5.4/lua.h
interp/l_files.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/l_remote.h:
interp/ssh_sftp.h:
interp/buf.h:
interp/scheduler.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
