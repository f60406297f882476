#!/usr/bin/env python3
"""Generate freshtls(1) from the tool's own --help texts, so the man page
and the tool cannot disagree.

    tools/gen_man.py path/to/freshtls > docs/man/freshtls.1
    tools/gen_man.py --check path/to/freshtls docs/man/freshtls.1

--check exits 1 (and prints a hint) when the committed page differs from
what the binary's --help would generate now."""
import subprocess
import sys


def run(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True,
                          check=True).stdout


def roff(text):
    out = []
    for line in text.rstrip("\n").split("\n"):
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def commands(main_help):
    cmds, inside = [], False
    for line in main_help.split("\n"):
        if line.startswith("commands:"):
            inside = True
        elif inside and line.startswith("  ") and line.strip():
            cmds.append(line.split()[0])
        elif inside and not line.strip():
            break
    return cmds


def generate(exe):
    main_help = run(exe, "--help")
    version = run(exe, "--version").split("\n")[0]
    page = [
        '.TH FRESHTLS 1 "" "freshtls" "User Commands"',
        ".SH NAME",
        "freshtls \\- keep TLS trust and identity fresh in long-running OpenSSL programs",
        ".SH SYNOPSIS",
        ".B freshtls",
        "[\\-v|\\-\\-verbose] [\\-q|\\-\\-quiet] \\fIcommand\\fR [\\fIargs\\fR]",
        ".SH DESCRIPTION",
        ".nf",
        roff(main_help),
        ".fi",
        ".SH COMMANDS",
    ]
    for c in commands(main_help):
        page += [".SS " + c, ".nf", roff(run(exe, c, "--help")), ".fi"]
    page += [
        ".SH EXIT STATUS",
        "0 success, 1 failure, 2 usage error.",
        ".SH SEE ALSO",
        "The library's reference is in its headers, <freshtls/*.h>.",
        ".SH VERSION",
        roff(version),
    ]
    return "\n".join(page) + "\n"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        want = generate(sys.argv[2])
        have = open(sys.argv[3], encoding="utf-8").read()
        if want != have:
            print("FAIL docs/man/freshtls.1 differs from the tool's --help; "
                  "regenerate: tools/gen_man.py build/cli/freshtls > docs/man/freshtls.1")
            return 1
        print("ok   freshtls.1 matches --help of every command")
        return 0
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(generate(sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
