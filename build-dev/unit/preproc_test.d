build-dev/unit/preproc_test.o: tests/unit/preproc_test.c interp/preproc.h
interp/preproc.h:
