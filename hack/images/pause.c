/*
 * pause: the process that holds a pod sandbox's namespaces open.
 *
 * Written for Cubelet's offline test images (hack/build-images.sh). It does nothing but wait:
 *   - it blocks in pause() forever;
 *   - it reaps every child that exits (as PID 1 of a pod's PID namespace it inherits orphans);
 *   - it exits with status 0 on SIGTERM or SIGINT (a PID-namespace init ignores signals it has
 *     no handler for, so the handlers are what make it stoppable);
 *   - `pause -v` prints a version line and exits.
 *
 * Build: gcc -static -O2 -Wall -Wextra -o pause pause.c
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CUBELET_PAUSE_VERSION
#define CUBELET_PAUSE_VERSION "3.10"
#endif

static void reap_children(void)
{
	int saved_errno = errno;

	/* One SIGCHLD may stand for several exits: collect all of them, never block. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved_errno;
}

static void on_sigchld(int signo)
{
	(void)signo;
	reap_children();
}

static void on_stop(int signo)
{
	(void)signo;
	_exit(0); /* async-signal-safe; nothing to flush or clean up */
}

static int set_handler(int signo, void (*handler)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, NULL) != 0) {
		fprintf(stderr, "pause: sigaction(%d): %s\n", signo, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		if (strcmp(argv[1], "-v") == 0) {
			printf("pause (cubelet) version %s\n", CUBELET_PAUSE_VERSION);
			return 0;
		}
		fprintf(stderr, "usage: %s [-v]\n", argv[0]);
		return strcmp(argv[1], "-h") == 0 ? 0 : 2;
	}

	if (set_handler(SIGTERM, on_stop, 0) != 0 || set_handler(SIGINT, on_stop, 0) != 0 ||
	    set_handler(SIGCHLD, on_sigchld, SA_NOCLDSTOP | SA_RESTART) != 0)
		return 1;

	/* Children that exited before the handler was in place sent their SIGCHLD to nobody. */
	reap_children();

	for (;;)
		pause();
}
