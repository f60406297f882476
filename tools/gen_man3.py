#!/usr/bin/env python3
"""Generate the library's man(3) pages from the public headers: one page
per function (NAME, LIBRARY, SYNOPSIS, DESCRIPTION, RETURN VALUE, THREAD
SAFETY, HISTORY, SEE ALSO) and freshtls(3), an index by header.

    tools/gen_man3.py OUTDIR            write the pages
    tools/gen_man3.py --check OUTDIR    compare OUTDIR with what the headers
                                        give now; lint each page with groff

The header comments are the source of truth (tools/check_header_docs.py
checks they are complete); the committed pages in docs/man/man3 are
regenerated with `tools/gen_man3.py docs/man/man3`."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
INC = os.path.join(ROOT, "include", "freshtls")
DECL = re.compile(r"FTLS_API\s+(?:FTLS_NODISCARD\s+)?(?P<ret>[^;{(]*?)"
                  r"\b(?P<name>ftls_\w+)\s*\(", re.S)
TAG = re.compile(r"@(brief|param(?:\[\w+\])?|return|since|warning|note|par)(?=\s|$)\s*")


def version():
    text = open(os.path.join(INC, "version.h"), encoding="utf-8").read()
    m = re.search(r'#define FTLS_VERSION_STRING "([^"]+)"', text)
    return m.group(1) if m else "0"


def doc_before(text, pos):
    head = text[:pos].rstrip()
    if not head.endswith("*/"):
        return None
    start = head.rfind("/**")
    return head[start:] if start >= 0 else None


def comment_lines(doc):
    body = doc[3:-2]
    out = []
    for line in body.split("\n"):
        line = re.sub(r"^\s*\*( |$)", "", line.rstrip())
        out.append(line)
    return out


def sections(doc):
    """[(tag, arg, text)] in order; untagged text is ('text', '', ...)."""
    parts, tag, arg, buf = [], "text", "", []

    def flush():
        t = " ".join(x.strip() for x in buf).strip()
        if t or tag not in ("text",):
            parts.append((tag, arg, t))

    for line in comment_lines(doc):
        m = TAG.match(line.strip())
        if m:
            flush()
            tag, arg, buf = m.group(1), "", []
            rest = line.strip()[m.end():]
            if tag.startswith("param"):
                pm = re.match(r"(\S+)\s*(.*)", rest)
                arg, rest = (pm.group(1), pm.group(2)) if pm else ("", rest)
                arg = f"{arg} {tag[5:]}" if tag != "param" else arg
                tag = "param"
            elif tag == "par":
                pm = re.match(r"([^:]+):?\s*(.*)", rest)
                arg, rest = (pm.group(1).strip(), pm.group(2)) if pm else (rest, "")
            buf = [rest]
        elif not line.strip() and tag == "text":
            buf.append("\n\n")
        else:
            buf.append(line)
    flush()
    return parts


def roff_text(t):
    t = t.replace("\\", "\\e")
    t = re.sub(r"@p\s+(\w+)", r"\\fI\1\\fP", t)
    t = re.sub(r"@c\s+(\w+)", r"\\fB\1\\fP", t)
    t = re.sub(r"::(ftls_\w+)", r"\\fB\1\\fP", t)
    t = re.sub(r"\b(ftls_\w+)\(\)", r"\\fB\1\\fP()", t)
    t = re.sub(r"[ \t]+", " ", t)
    lines = []
    for para in re.split(r"\s*\n\n\s*", t.strip()):
        if para:
            if lines:
                lines.append(".PP")
            lines.append(para.strip())
    out = []
    for line in "\n".join(lines).split("\n"):
        if line.startswith((".", "'")) and line != ".PP":
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def declaration(text, start):
    """The prototype as the header lays it out, without the export and
    nodiscard macros (no-fill in the page, so keep the header's breaks)."""
    end = text.index(";", start)
    d = text[start:end + 1]
    d = re.sub(r"\bFTLS_API\s+|\bFTLS_NODISCARD\s*", "", d)
    lines = [l.rstrip() for l in d.split("\n")]
    return "\n".join(l for l in lines if l.strip())


def header_rule(text):
    file_doc = text[:text.find("*/") + 2]
    m = re.search(r"@par Thread-safety\s*\n(.*?)(?:\n \*\s*\n|\*/)", file_doc, re.S)
    if not m:
        return ""
    return " ".join(re.sub(r"^\s*\*\s?", "", l) for l in m.group(1).split("\n")).strip()


def header_brief(text):
    m = re.search(r"@brief\s+(.*?)(?:\n \*\s*\n|\*/)", text, re.S)
    if not m:
        return ""
    return " ".join(re.sub(r"^\s*\*\s?", "", l) for l in m.group(1).split("\n")).strip()


def page(fn, hdr, decl, ret, parts, rule, ver):
    brief = next((t for g, _, t in parts if g == "brief"), "")
    brief = re.split(r"\.\s+(?=[A-Z])", brief)[0].rstrip(".") if brief else fn
    head = [f'.TH {fn.upper()} 3 "" "freshtls {ver}" "freshtls manual"', ".nh", ".ad l",
            ".SH NAME", f"{fn} \\- {roff_text(brief)}",
            ".SH LIBRARY", "freshtls (\\fIlibfreshtls\\fP, \\fI\\-lfreshtls\\fP)",
            ".SH SYNOPSIS", ".nf", f".B #include <freshtls/{hdr}>", ".PP",
            decl.replace("\\", "\\e"),
            ".fi", ".SH DESCRIPTION"]
    body, params, rets, warns, own_rule, since, see = [], [], [], [], "", "", set()
    for tag, arg, text in parts:
        see.update(re.findall(r"\b(ftls_\w+)\(\)", text))
        if tag in ("brief", "text", "note"):
            if text:
                body.append(roff_text(text))
        elif tag == "param":
            params.append((arg, text))
        elif tag == "return":
            rets.append(roff_text(text))
        elif tag == "warning":
            warns.append(roff_text(text))
        elif tag == "since":
            since = text
        elif tag == "par" and arg.lower().startswith("thread-safety"):
            own_rule = text
        elif tag == "par":
            body.append(f".B {arg}\n.br\n{roff_text(text)}" if text else
                        roff_text(arg))
    out = head + ["\n.PP\n".join(body) if body else roff_text(brief)]
    if params:
        out.append(".SS Parameters")
        for arg, text in params:
            out += [".TP", f".I {arg}", roff_text(text) or "(see above)"]
    if warns:
        out.append(".SS Warnings")
        out += ["\n.PP\n".join(warns)]
    if ret.strip() != "void":
        out += [".SH RETURN VALUE", "\n.PP\n".join(rets)]
    out += [".SH THREAD SAFETY",
            roff_text(own_rule[:1].upper() + own_rule[1:]) if own_rule else
            roff_text(f"The rule of <freshtls/{hdr}>: {rule}")]
    out += [".SH HISTORY", f"Added in freshtls {since}."]
    see.discard(fn)
    refs = [f".BR {s} (3)" for s in sorted(see)] + [".BR freshtls (3)"]
    out += [".SH SEE ALSO", ",\n".join(refs)]
    return "\n".join(out) + "\n"


def index_page(headers, ver):
    out = [f'.TH FRESHTLS 3 "" "freshtls {ver}" "freshtls manual"', ".nh", ".ad l",
           ".SH NAME", "freshtls \\- fresh TLS trust and identity for long-running "
           "OpenSSL programs",
           ".SH LIBRARY", "freshtls (\\fIlibfreshtls\\fP, \\fI\\-lfreshtls\\fP)",
           ".SH SYNOPSIS", ".nf", ".B #include <freshtls/freshtls.h>", ".fi",
           ".SH DESCRIPTION",
           "One page per function; the functions by header:"]
    for hdr, brief, fns in headers:
        out += [f".SS <freshtls/{hdr}>", roff_text(brief) or hdr, ".PP",
                ",\n".join(f".BR {f} (3)" for f in fns)]
    out += [".SH SEE ALSO", ".BR freshtls (1)"]
    return "\n".join(out) + "\n"


def generate(outdir):
    ver = version()
    pages, headers = {}, []
    for hdr in sorted(os.listdir(INC)):
        if not hdr.endswith(".h"):
            continue
        text = open(os.path.join(INC, hdr), encoding="utf-8").read()
        rule, fns = header_rule(text), []
        for m in DECL.finditer(text):
            fn, doc = m.group("name"), doc_before(text, m.start())
            parts = sections(doc) if doc else []
            pages[fn + ".3"] = page(fn, hdr, declaration(text, m.start()),
                                    m.group("ret"), parts, rule, ver)
            fns.append(fn)
        if fns:
            headers.append((hdr, header_brief(text), fns))
    pages["freshtls.3"] = index_page(headers, ver)
    os.makedirs(outdir, exist_ok=True)
    for name, content in pages.items():
        with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
            f.write(content)
    return pages


def lint(path):
    if shutil.which("groff") is None:
        return ""
    r = subprocess.run(["groff", "-man", "-ww", "-z", path],
                       capture_output=True, text=True)
    return r.stderr.strip()


def check(outdir):
    with tempfile.TemporaryDirectory() as tmp:
        pages = generate(tmp)
        problems = []
        committed = set(f for f in os.listdir(outdir) if f.endswith(".3")) \
            if os.path.isdir(outdir) else set()
        for name in sorted(set(pages) | committed):
            want = os.path.join(tmp, name)
            have = os.path.join(outdir, name)
            if name not in pages:
                problems.append(f"{name}: no such public function any more")
            elif not os.path.exists(have):
                problems.append(f"{name}: missing")
            elif open(have, encoding="utf-8").read() != pages[name]:
                problems.append(f"{name}: differs from the header comment")
            else:
                warn = lint(want)
                if warn:
                    problems.append(f"{name}: groff: {warn}")
        for p in problems:
            print("FAIL " + p)
        if problems:
            print("fix: tools/gen_man3.py docs/man/man3")
            return 1
        print(f"ok   man(3): {len(pages)} pages match the headers")
        return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        return check(argv[2])
    if len(argv) == 2:
        generate(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
