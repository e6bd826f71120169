build-dev/obj/ssh_algs.o: interp/ssh_algs.c interp/ssh_algs.h \
 build/deps/include/libssh2.h interp/ssh_params.h
interp/ssh_algs.h:
build/deps/include/libssh2.h:
interp/ssh_params.h:
