/* lessongatectl's regulator and operator commands: keygen and audit. */
#ifndef LGCTL_AUDIT_H
#define LGCTL_AUDIT_H

/* Usage lines of these commands, for lessongatectl's usage(). */
extern const char lgctl_audit_usage[];

/* Run `keygen ...` or `audit SUBCOMMAND ...` (argv: what follows cmd). The exit status. */
int lgctl_audit_main(const char *cmd, int argc, char **argv);

#endif
