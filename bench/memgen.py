#!/usr/bin/env python3
"""Writes a RESP command stream for bench/memory.sh to stdout, for
`redis-cli --pipe`. One generator per dataset kind, so both servers load
exactly the same bytes.

Usage: memgen.py KIND KEYS ELEMENTS
  KIND: hash | set_int | set_str | zset | list, or
        mset (string keys named as redis-benchmark's `key:__rand_int__`,
        ELEMENTS = value size; used by bench/bgsave.sh)
"""
import sys


def cmd(out, args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))


def main():
    kind, keys, elems = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    out = sys.stdout.buffer
    if kind == "mset":
        for first in range(0, keys, 100):
            args = [b"MSET"]
            for k in range(first, min(first + 100, keys)):
                args += [b"key:%012d" % k, (b"%d:" % k).ljust(elems, b"v")]
            cmd(out, args)
        return
    # Element names are the same for every key; only the key name varies, so
    # the generator stays cheap even for a million elements.
    if kind == "hash":
        body = []
        for j in range(elems):
            body += [b"field:%d" % j, b"v%015d" % j]  # 16-byte values
        verb = b"HSET"
    elif kind == "set_int":
        body = [b"%d" % (1000 + j) for j in range(elems)]
        verb = b"SADD"
    elif kind == "set_str":
        body = [b"member:%08d" % j for j in range(elems)]
        verb = b"SADD"
    elif kind == "zset":
        body = []
        for j in range(elems):
            body += [b"%d" % j, b"member:%08d" % j]
        verb = b"ZADD"
    elif kind == "list":
        body = [b"item:%011d" % j for j in range(elems)]  # 16 bytes
        verb = b"RPUSH"
    else:
        sys.exit("unknown kind " + kind)
    for k in range(keys):
        cmd(out, [verb, b"%s:%d" % (kind.encode(), k)] + body)


if __name__ == "__main__":
    main()
