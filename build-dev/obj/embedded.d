build-dev/obj/embedded.o: build-dev/embedded.c interp/embedded.h
interp/embedded.h:
