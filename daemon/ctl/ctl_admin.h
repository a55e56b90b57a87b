/* lessongatectl status|student|reload: talk to the running daemon's admin listener. */
#ifndef LG_CTL_ADMIN_H
#define LG_CTL_ADMIN_H

/* The usage lines of these commands (printed by lessongatectl's usage). */
extern const char lgctl_admin_usage[];

/*
 * `status`, `student ID`, `reload` (argv[0] is the command) against the admin
 * listener configured in config_path. Returns the exit code: 0 done, 1 the
 * daemon answered with an error, 2 usage, 3 no admin listener configured,
 * 4 the daemon cannot be reached.
 */
int lgctl_admin_main(const char *config_path, int argc, char **argv);

#endif
