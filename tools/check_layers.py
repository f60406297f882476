#!/usr/bin/env python3
"""Check the library's layering: a file in src/<layer>/ may include only
headers of its own layer or of a layer below it (docs/HACKING.md).

    base    mem, errors, logging, files, PEM/DER, fork gate, snapshots
    roots   trust anchors: discovery, loading, the process-wide cache
    source  sources of identity and trust, the watcher
    ctx     SSL_CTX factory and attach       (peers: neither includes
    mint    leaf minting and the resolver     the other)

Internal headers are included by their layer-qualified path
("roots/roots_internal.h"); a bare or relative include of a library
header is an error too, so the check cannot be bypassed by spelling.
OpenSSL version and deprecation tests (OPENSSL_VERSION_NUMBER,
OPENSSL_VERSION_MAJOR/MINOR, OPENSSL_NO_DEPRECATED*) live in one place,
src/base/ossl_compat.h; any other library file using them is an error.

Exit status 0 when clean, 1 with one line per violation otherwise."""
import os
import re
import sys

ALLOWED = {
    "base": {"base"},
    "roots": {"base", "roots"},
    "source": {"base", "roots", "source"},
    "ctx": {"base", "roots", "source", "ctx"},
    "mint": {"base", "roots", "source", "mint"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
VERSION_TEST = re.compile(r"\bOPENSSL_(VERSION_NUMBER|VERSION_MAJOR|VERSION_MINOR|NO_DEPRECATED\w*)\b")
COMPAT = "base/ossl_compat.h"


def check(src):
    problems = []
    layers = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for layer in layers:
        if layer not in ALLOWED:
            problems.append(f"src/{layer}/: a folder no layer rule covers "
                            "(add it to tools/check_layers.py and docs/HACKING.md)")
            continue
        for name in sorted(os.listdir(os.path.join(src, layer))):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(src, layer, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            m = VERSION_TEST.search(text)
            if m and f"{layer}/{name}" != COMPAT:
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"src/{layer}/{name}:{line}: {m.group(0)} outside "
                                f"src/{COMPAT} (keep version checks in one place)")
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                where = f"src/{layer}/{name}:{line}"
                parts = inc.split("/")
                if len(parts) != 2 or parts[0] not in ALLOWED:
                    problems.append(f'{where}: include "{inc}" is not '
                                    'layer-qualified ("<layer>/<header>.h")')
                elif parts[0] not in ALLOWED[layer]:
                    problems.append(f'{where}: layer {layer} includes "{inc}" '
                                    f"from layer {parts[0]}")
                elif not os.path.exists(os.path.join(src, inc)):
                    problems.append(f'{where}: include "{inc}" does not exist')
    for name in os.listdir(src):
        if os.path.isfile(os.path.join(src, name)):
            problems.append(f"src/{name}: every library file lives in a layer folder")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    problems = check(os.path.join(root, "src"))
    for p in problems:
        print(p)
    if problems:
        print(f"FAIL {len(problems)} layering violation(s)")
        return 1
    print("ok   layering: every include stays in its layer or below; "
          "version checks only in " + COMPAT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
