/*
 * An LD_PRELOAD that makes fdatasync(2) slow while a file exists: each call
 * sleeps $LG_SLOW_SYNC_S seconds (default 4) while $LG_SLOW_SYNC_FILE exists,
 * then syncs. tests/integration/test_admin.py uses it to hold the audit
 * writer in a group commit (a hung disk) while the admin API is scraped.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

/* fdatasync, slowed while $LG_SLOW_SYNC_FILE exists. */
int
fdatasync(int fd)
{
	static int (*real)(int);
	const char *file = getenv("LG_SLOW_SYNC_FILE"), *s = getenv("LG_SLOW_SYNC_S");

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (file && access(file, F_OK) == 0)
		sleep(s ? (unsigned)atoi(s) : 4);
	return real(fd);
}
