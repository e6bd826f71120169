build-dev/obj/ssh_knownhosts.o: interp/ssh_knownhosts.c \
 interp/ssh_knownhosts.h
interp/ssh_knownhosts.h:
