/*
 * Network helpers shared by the tests and fuzz targets that run real
 * listeners: only 127.0.0.1, ports reserved at run time.
 */
#ifndef LOGOS_TESTS_LIB_NET_H
#define LOGOS_TESTS_LIB_NET_H

#include <stddef.h>

/* Writes "127.0.0.1:PORT" with a port free right now into `out`. 0, or -1
 * (errno set) when no port could be reserved. */
int test_free_address(char *out, size_t size);

#endif /* LOGOS_TESTS_LIB_NET_H */
