build-dev/unit/ssh_config_test.o: tests/unit/ssh_config_test.c \
 interp/ssh_config.h tests/unit/check.h
interp/ssh_config.h:
tests/unit/check.h:
