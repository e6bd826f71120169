build-dev/unit/ssh_knownhosts_test.o: tests/unit/ssh_knownhosts_test.c \
 interp/ssh_knownhosts.h tests/unit/check.h
interp/ssh_knownhosts.h:
tests/unit/check.h:
