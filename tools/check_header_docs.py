#!/usr/bin/env python3
"""Check the reference documentation in include/freshtls/*.h.

Every header that declares functions states its thread-safety rule in its
file comment (a "@par Thread-safety" paragraph); functions that differ say
so in their own comment. Every public function (FTLS_API) has a doc
comment right above it with:
  - @since
  - @return, unless it returns void
Exit status 0 when complete, 1 with one line per gap otherwise."""
import os
import re
import sys

DECL = re.compile(r"FTLS_API\s+(?:FTLS_NODISCARD\s+)?(?P<ret>[^;{(]*?)\b(?P<name>ftls_\w+)\s*\(",
                  re.S)


def doc_before(text, pos):
    """The /** ... */ comment that ends right before pos (blank space
    only in between), or None."""
    head = text[:pos].rstrip()
    if not head.endswith("*/"):
        return None
    start = head.rfind("/**")
    if start < 0 or head.rfind("*/", 0, len(head) - 2) > start:
        return None
    return head[start:]


def check_header(path):
    text = open(path, encoding="utf-8").read()
    name = os.path.basename(path)
    gaps = []
    decls = list(DECL.finditer(text))
    if not decls:
        return gaps
    file_doc = text[:text.find("*/") + 2] if text.lstrip().startswith("/**") else ""
    has_rule = "@par Thread-safety" in file_doc
    if not has_rule:
        gaps.append(f"{name}: the file comment states no thread-safety rule "
                    "(@par Thread-safety)")
    for m in decls:
        fn, ret = m.group("name"), m.group("ret").strip()
        line = text.count("\n", 0, m.start()) + 1
        doc = doc_before(text, m.start())
        where = f"{name}:{line}: {fn}"
        if doc is None:
            gaps.append(f"{where}: no doc comment")
            continue
        if "@since" not in doc:
            gaps.append(f"{where}: no @since")
        if ret != "void" and "@return" not in doc:
            gaps.append(f"{where}: returns {ret} but has no @return")
    return gaps


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    inc = os.path.join(root, "include", "freshtls")
    gaps, nfn = [], 0
    for name in sorted(os.listdir(inc)):
        if name.endswith(".h"):
            path = os.path.join(inc, name)
            nfn += len(DECL.findall(open(path, encoding="utf-8").read()))
            gaps += check_header(path)
    for g in gaps:
        print(g)
    if gaps:
        print(f"FAIL {len(gaps)} documentation gap(s) in {nfn} public functions")
        return 1
    print(f"ok   header docs: {nfn} public functions documented "
          "(@since, @return, thread-safety)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
