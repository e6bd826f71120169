build-dev/obj/shctx.o: interp/shctx.c interp/shctx.h
interp/shctx.h:
