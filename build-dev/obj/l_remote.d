build-dev/obj/l_remote.o: interp/l_remote.c interp/l_remote.h \
 /usr/include/lua5.4/lua.h /usr/include/lua5.4/luaconf.h \
 interp/l_command.h interp/l_util.h /usr/include/lua5.4/lauxlib.h \
 /usr/include/lua5.4/lua.h interp/l_pty.h interp/ssh.h interp/scheduler.h \
 interp/ssh_params.h interp/ssh_exec.h interp/command.h interp/cmdout.h \
 interp/buf.h interp/output.h interp/ssh_tunnel.h interp/ssh_config.h \
 interp/l_files.h
interp/l_remote.h:
/usr/include/lua5.4/lua.h:
/usr/include/lua5.4/luaconf.h:
interp/l_command.h:
interp/l_util.h:
/usr/include/lua5.4/lauxlib.h:
/usr/include/lua5.4/lua.h:
interp/l_pty.h:
interp/ssh.h:
interp/scheduler.h:
interp/ssh_params.h:
interp/ssh_exec.h:
interp/command.h:
interp/cmdout.h:
interp/buf.h:
interp/output.h:
interp/ssh_tunnel.h:
interp/ssh_config.h:
interp/l_files.h:
