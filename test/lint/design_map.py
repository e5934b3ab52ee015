#!/usr/bin/env python3
"""Every source file is named in docs/DESIGN.md, so that the design
document's capability map stays the reference a new contributor can trust.

A file counts as named when DESIGN.md mentions it ("hnsw_utils.c"), its
pair ("train.c/.h" names train.c and train.h) or a pattern that matches it
("nn_*.c").  Exit status 1, with the missing files, otherwise.
"""
import fnmatch
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
design = open(os.path.join(ROOT, "docs", "DESIGN.md")).read()
named = set()
for stem, exts in re.findall(r"([A-Za-z0-9_*]+)\.([ch](?:/\.[ch])?)\b", design):
    for ext in exts.split("/."):
        named.add(f"{stem}.{ext}")
missing = [f for f in sorted(os.listdir(os.path.join(ROOT, "src")))
           if f.endswith((".c", ".h"))
           and not any(fnmatch.fnmatch(f, n) for n in named)]
for f in missing:
    print(f"design_map: src/{f} is not named in docs/DESIGN.md (section 5, the capability map)")
print(f"design_map: {len(missing)} source file(s) missing from docs/DESIGN.md")
sys.exit(1 if missing else 0)
