# shell/: logos — the CLI and the interactive shell. Talks to an agent over
# HTTP only (DESIGN §3): common, libcurl, jansson, libedit; nothing of
# statestore/, consensus/, services/ or agent/.
noinst_LIBRARIES += shell/libshell.a
shell_libshell_a_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(EDIT_CFLAGS)
shell_libshell_a_SOURCES = \
	shell/client.c shell/client.h \
	shell/internal.h \
	shell/util.c \
	shell/cmd_cluster.c \
	shell/cmd_proc.c \
	shell/cmd_step.c \
	shell/cmd_files.c \
	shell/cmd_queues.c \
	shell/cmd_history.c \
	shell/repl.c

bin_PROGRAMS += logos
logos_SOURCES = shell/main.c
logos_CFLAGS = $(shell_libshell_a_CFLAGS)
logos_LDADD = shell/libshell.a common/libcommon.a $(CURL_LIBS) $(JANSSON_LIBS) $(EDIT_LIBS)
