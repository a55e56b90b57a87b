#!/usr/bin/env python3
"""Embed a file in the binary: embed.py INPUT OUTPUT.c SYMBOL writes
`const char SYMBOL[]` (the bytes, NUL-terminated) and `const size_t SYMBOL_len`."""
import sys


def main():
    src, out, sym = sys.argv[1:4]
    data = open(src, "rb").read()
    with open(out, "w") as f:
        f.write("/* Generated from %s by embed.py; do not edit. */\n" % src.rsplit("/", 1)[-1])
        f.write("#include <stddef.h>\n\n")
        f.write("const char %s[] = {\n" % sym)
        for i in range(0, len(data), 16):
            f.write("\t" + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",\n")
        f.write("\t0x00\n};\nconst size_t %s_len = %d;\n" % (sym, len(data)))


if __name__ == "__main__":
    main()
