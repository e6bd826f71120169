build-dev/obj/ssh_alloc.o: interp/ssh_alloc.c interp/ssh_alloc.h
interp/ssh_alloc.h:
