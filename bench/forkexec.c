/*
 * The machine's own cost of starting a process to its exit, the yardstick of
 * logos's launch-to-exit latency (bench/run-all, DESIGN §8): N times
 * fork + execv("/bin/true") + waitpid, and the same with posix_spawn (which
 * glibc implements with clone(CLONE_VM|CLONE_VFORK); libuv's uv_spawn, which
 * logosd uses, forks on Linux), each run timed with CLOCK_MONOTONIC. Prints one JSON line per
 * method: {"kind":"forkexec","label",...,"n","p50_ms","p99_ms","mean_ms","max_ms"}.
 *
 * Usage: forkexec [N]   (default 1000)
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int run_one(int spawn)
{
	char *argv[] = {"/bin/true", NULL};
	pid_t pid;
	int status;

	if (spawn) {
		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
			return -1;
	} else {
		pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	double *lat;
	int m, i;

	if (n < 1 || !(lat = malloc(sizeof *lat * (size_t)n)))
		return 2;
	for (m = 0; m < 2; m++) {
		double sum = 0, t;

		for (i = 0; i < 10; i++) /* warm-up */
			if (run_one(m) != 0)
				return 1;
		for (i = 0; i < n; i++) {
			t = now_ms();
			if (run_one(m) != 0) {
				perror("forkexec");
				return 1;
			}
			lat[i] = now_ms() - t;
			sum += lat[i];
		}
		qsort(lat, (size_t)n, sizeof *lat, cmp);
		printf("{\"kind\":\"forkexec\",\"system\":\"machine\",\"label\":\"machine: %s of /bin/true + waitpid\","
		       "\"n\":%d,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"mean_ms\":%.4f,\"max_ms\":%.4f}\n",
		       m ? "posix_spawn" : "fork + execv", n, lat[(n - 1) / 2],
		       lat[(size_t)(n * 0.99) < (size_t)n ? (size_t)(n * 0.99) : (size_t)n - 1],
		       sum / n, lat[n - 1]);
	}
	free(lat);
	return 0;
}
