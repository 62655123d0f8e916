# services/: the OS services as pure transitions (DESIGN §5). Uses common only.
noinst_LIBRARIES += services/libservices.a
services_libservices_a_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
services_libservices_a_SOURCES = \
	services/command.c services/command.h \
	services/files.c services/files.h \
	services/history.c \
	services/internal.h \
	services/msg.c services/msg.h \
	services/nodes.c services/nodes.h \
	services/proc.c services/proc.h services/proc_internal.h \
	services/service.c services/service.h \
	services/steps.c services/steps.h
