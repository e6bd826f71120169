build-dev/obj/preproc.o: interp/preproc.c interp/preproc.h interp/shctx.h
interp/preproc.h:
interp/shctx.h:
