build-dev/obj/ssh_config.o: interp/ssh_config.c interp/ssh_config.h
interp/ssh_config.h:
