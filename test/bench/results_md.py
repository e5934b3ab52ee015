"""Write one benchmark's section of RESULTS.md, leaving the others alone.

Each benchmark owns the text between `<!-- bench:NAME begin -->` and
`<!-- bench:NAME end -->`; a section not yet in the file is appended.
"""
import os
import re


def write_section(path, name, text):
    begin, end = f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = open(path).read() if os.path.exists(path) else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = old.rstrip("\n") + ("\n\n" if old.strip() else "") + block
    with open(path, "w") as f:
        f.write(new)
