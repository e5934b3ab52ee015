#!/usr/bin/env python3
"""The pgindent layout rules clang-format cannot check, over whole files.

pgindent (pg_bsd_indent) is not packaged, so these rules are checked
directly; each holds on the whole tree, so a violation is new drift:
  - no trailing whitespace;
  - indentation with tabs: no line starts with four or more spaces;
  - braces on their own line after if/for/while/switch/do/else, and no
    "} else";
  - a function definition puts its return type on the line above the name.
Usage: pgindent_rules.py FILE...   (exit status 1 on findings)
"""
import re
import sys

CONTROL = re.compile(r'^\s*(if|for|while|switch|do|else)\b.*\S\s*\{\s*(/\*.*\*/)?\s*$')
ELSE_AFTER_BRACE = re.compile(r'^\s*\}\s*else\b')
DEF_NAME_LINE = re.compile(r'^[A-Za-z_][\w \t\*]*[\s\*]\**[A-Za-z_]\w*\(')


def check(path):
    found = []
    lines = open(path, encoding='utf-8').read().split('\n')
    in_comment = False
    for i, line in enumerate(lines, 1):
        code = line
        if in_comment:
            if '*/' not in line:
                continue
            in_comment = False
            code = line.split('*/', 1)[1]
        if '/*' in code and '*/' not in code.split('/*', 1)[1]:
            in_comment = True
        if line != line.rstrip():
            found.append((i, 'trailing whitespace'))
        if re.match(r'^ {4,}\S', line) and not line.lstrip().startswith('*'):
            found.append((i, 'indented with spaces, pgindent uses tabs'))
        if CONTROL.match(code) and not code.rstrip().endswith('\\'):
            found.append((i, 'opening brace on the line of its statement'))
        if ELSE_AFTER_BRACE.match(code):
            found.append((i, '"} else": else goes on its own line'))
        # a definition: "type name(" at column 0, its body's '{' at column 0
        if DEF_NAME_LINE.match(line) and not line.startswith(('typedef', 'struct', 'enum', 'union', '#', 'return')):
            j = i
            while j < len(lines) and not lines[j - 1].rstrip().endswith((')', ';', '{', '}', ',', '=')):
                j += 1
            if lines[j - 1].rstrip().endswith('{') and ')' in lines[j - 1]:
                found.append((i, 'function definition: return type and "{" go on their own lines'))
            elif lines[j - 1].rstrip().endswith(')') and j < len(lines) and lines[j] == '{':
                found.append((i, 'function definition: return type goes on its own line'))
    return found


def main():
    n = 0
    for path in sys.argv[1:]:
        for line, msg in check(path):
            print(f'{path}:{line}: pgindent: {msg}')
            n += 1
    return 1 if n else 0


if __name__ == '__main__':
    sys.exit(main())
