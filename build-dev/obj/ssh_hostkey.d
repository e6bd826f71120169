build-dev/obj/ssh_hostkey.o: interp/ssh_hostkey.c interp/ssh_hostkey.h \
 build/deps/include/libssh2.h interp/ssh_params.h interp/ssh_knownhosts.h
interp/ssh_hostkey.h:
build/deps/include/libssh2.h:
interp/ssh_params.h:
interp/ssh_knownhosts.h:
