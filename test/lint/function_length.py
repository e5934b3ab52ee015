#!/usr/bin/env python3
"""Functions you can read on one screen (STYLE.md): no function body in
src/*.c is longer than LIMIT lines, except those listed with a reason in
test/lint/long_functions.txt ("FILE FUNCTION reason", one per line).

A body is counted from the "{" in column 0 that follows a definition to
the "}" in column 0 that closes it (pgindent's layout, which format.sh
checks).  A listed function that is no longer long is reported too, so the
list only shrinks.
Usage: function_length.py [FILE...]   (default src/*.c; exit 1 on findings)
"""
import glob
import os
import re
import sys

LIMIT = 100
HERE = os.path.dirname(os.path.abspath(__file__))
NAME = re.compile(r'^([A-Za-z_]\w*)\(')


def functions(path):
    """(name, first line, body lines) of every function definition."""
    lines = open(path, encoding='utf-8').read().split('\n')
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == '{' and i > 0:
            k = i - 1
            while k > 0 and not NAME.match(lines[k]) and lines[k].startswith(('\t', ' ')):
                k -= 1
            m = NAME.match(lines[k])
            j = i
            while j < len(lines) and lines[j] != '}':
                j += 1
            if m:
                out.append((m.group(1), k + 1, j - i - 1))
            i = j
        i += 1
    return out


def allowed():
    allow = {}
    for line in open(os.path.join(HERE, 'long_functions.txt'), encoding='utf-8'):
        if line.strip() and not line.startswith('#'):
            path, name, reason = line.split(None, 2)
            allow[(path, name)] = reason.strip()
    return allow


def main():
    os.chdir(os.path.dirname(os.path.dirname(HERE)))
    paths = sys.argv[1:] or sorted(glob.glob('src/*.c'))
    allow = allowed()
    seen = set()
    n = 0
    for path in paths:
        for name, line, length in functions(path):
            if length <= LIMIT:
                continue
            seen.add((path, name))
            if (path, name) not in allow:
                print(f'{path}:{line}: function length: {name} has {length} lines, '
                      f'at most {LIMIT}: split it (collect, fit, write; one step a function)')
                n += 1
    if len(sys.argv) == 1:
        for path, name in sorted(set(allow) - seen):
            print(f'test/lint/long_functions.txt: {path} {name} is no longer over {LIMIT} lines: '
                  'remove the line')
            n += 1
    return 1 if n else 0


if __name__ == '__main__':
    sys.exit(main())
