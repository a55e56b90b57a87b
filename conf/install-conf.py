#!/usr/bin/env python3
"""Write the installed lessongate.conf from conf/lessongate.conf.

Usage: install-conf.py SOURCE OUTPUT CALENDAR_DIR EXAMPLES_DIR

The in-tree file names its calendars relative to conf/ ("calendar/cn-2026.conf"),
which the tests load. The installed copy names the official calendars by their
installed path (CALENDAR_DIR/cn-2026.conf) and leaves out the example vacation
file, whose dates are not official, pointing to its copy in EXAMPLES_DIR
instead. Anything it does not recognise is an error, so the two cannot drift.
"""
import re
import sys


def element_end(line):
    """The index just past a list element's value on line (before a comment)."""
    m = re.match(r'^(\s*"[^"]*")', line)
    return m.end() if m else None


def convert(lines, caldir, exdir):
    """The installed file's lines, or raise ValueError saying what is missing."""
    out, official, example = [], 0, 0
    for line in lines:
        if '"calendar/cn-' in line:
            out.append(line.replace('"calendar/cn-', '"%s/cn-' % caldir))
            official += 1
        elif '"calendar/example-vacations-' in line:
            example += 1
            # The element before it becomes the last one: it loses its comma.
            for i in range(len(out) - 1, -1, -1):
                end = element_end(out[i])
                if end is not None:
                    if out[i][end:].lstrip().startswith(","):
                        rest = out[i][end:].lstrip()[1:]
                        out[i] = out[i][:end] + (" " + rest.lstrip() if rest.strip() else "")
                    break
            indent = line[: len(line) - len(line.lstrip())]
            name = re.search(r'"calendar/([^"]+)"', line).group(1)
            out.append(indent + "# Regional school vacations: copy %s/%s," % (exdir, name))
            out.append(indent + "# enter your education bureau's dates and list the copy here.")
        else:
            out.append(line)
    if official == 0:
        raise ValueError('no "calendar/cn-YYYY.conf" entry found')
    if example != 1:
        raise ValueError('expected one "calendar/example-vacations-*.conf" entry, found %d' % example)
    return out


def main():
    """Read SOURCE, write OUTPUT; exit 1 with a message naming SOURCE on a mismatch."""
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().splitlines()[2])
    src, dst, caldir, exdir = sys.argv[1:]
    with open(src, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        out = convert(lines, caldir, exdir)
    except ValueError as e:
        sys.exit("%s: %s" % (src, e))
    with open(dst, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
