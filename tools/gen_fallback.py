#!/usr/bin/env python3
"""Generate src/roots/fallback_data.c from NSS's certdata.txt.

Keeps the certificates whose trust object has
CKA_TRUST_SERVER_AUTH CKT_NSS_TRUSTED_DELEGATOR, with any server
distrust-after date taken from the certificate object *or* the trust object.
Fails loudly on anything it does not understand: an unknown attribute type,
a trust object without its certificate, a SHA-1 that does not match, or two
different distrust dates for one root.

Usage: gen_fallback.py [--check] [--certdata PATH] [--provenance PATH] [--out PATH]
  --check  compare with the existing output instead of writing it (exit 1
           when they differ).
"""
import argparse
import calendar
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNOWN_TYPES = {"CK_OBJECT_CLASS", "CK_BBOOL", "UTF8", "MULTILINE_OCTAL",
               "CK_CERTIFICATE_TYPE", "CK_TRUST"}


class GenError(Exception):
    pass


def decode_octal(lines, lineno):
    out = bytearray()
    for text in lines:
        for m in re.finditer(r"\\([0-7]{3})|(.)", text):
            if m.group(1) is None:
                raise GenError(f"line {lineno}: bad octal data {text!r}")
            out.append(int(m.group(1), 8))
    return bytes(out)


def decode_utf8(value, lineno):
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        raise GenError(f"line {lineno}: UTF8 value not quoted: {value!r}")
    raw = bytearray()
    body = value[1:-1]
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            m = re.match(r"\\([0-7]{3})", body[i:])
            if m:
                raw.append(int(m.group(1), 8))
                i += 4
                continue
            if i + 1 < len(body):
                raw.extend(body[i + 1].encode())
                i += 2
                continue
            raise GenError(f"line {lineno}: dangling backslash")
        raw.extend(c.encode())
        i += 1
    return raw.decode("utf-8")


def parse(path):
    """Return a list of objects: dicts attribute -> (type, value)."""
    objects, cur = [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i, in_data = 0, False
    while i < len(lines):
        line = lines[i].strip()
        lineno = i + 1
        i += 1
        if not in_data:
            in_data = line == "BEGINDATA"
            continue
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("CKA_"):
            raise GenError(f"line {lineno}: cannot parse {line!r}")
        attr, typ = parts[0], parts[1]
        if typ not in KNOWN_TYPES:
            raise GenError(f"line {lineno}: unknown attribute type {typ!r} for {attr}")
        if typ == "MULTILINE_OCTAL":
            block = []
            while i < len(lines) and lines[i].strip() != "END":
                block.append(lines[i].strip())
                i += 1
            if i >= len(lines):
                raise GenError(f"line {lineno}: MULTILINE_OCTAL without END")
            i += 1
            value = decode_octal(block, lineno)
        elif typ == "UTF8":
            value = decode_utf8(parts[2] if len(parts) > 2 else "", lineno)
        else:
            if len(parts) != 3:
                raise GenError(f"line {lineno}: {attr} has no value")
            value = parts[2]
        if attr == "CKA_CLASS":
            cur = {}
            objects.append(cur)
        if cur is None:
            raise GenError(f"line {lineno}: attribute before CKA_CLASS")
        if attr in cur:
            raise GenError(f"line {lineno}: {attr} repeated in one object")
        cur[attr] = (typ, value)
    return objects


def distrust_date(obj, what):
    a = obj.get("CKA_NSS_SERVER_DISTRUST_AFTER")
    if a is None:
        return 0
    typ, val = a
    if typ == "CK_BBOOL":
        if val != "CK_FALSE":
            raise GenError(f"{what}: unexpected distrust boolean {val}")
        return 0
    if typ != "MULTILINE_OCTAL":
        raise GenError(f"{what}: unexpected distrust type {typ}")
    s = val.decode("ascii")
    m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z", s)
    if not m:
        raise GenError(f"{what}: distrust-after {s!r} is not a UTCTime")
    y, mo, d, h, mi, se = (int(x) for x in m.groups())
    y += 2000 if y < 50 else 1900
    return calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0))


def select(objects):
    certs = {}
    for o in objects:
        if o["CKA_CLASS"][1] == "CKO_CERTIFICATE":
            key = (o["CKA_ISSUER"][1], o["CKA_SERIAL_NUMBER"][1])
            if key in certs:
                raise GenError(f"duplicate certificate {o['CKA_LABEL'][1]!r}")
            certs[key] = o
    roots = []
    for o in objects:
        if o["CKA_CLASS"][1] != "CKO_NSS_TRUST":
            continue
        label = o["CKA_LABEL"][1]
        cert = certs.get((o["CKA_ISSUER"][1], o["CKA_SERIAL_NUMBER"][1]))
        if cert is None:
            raise GenError(f"trust object {label!r} has no certificate")
        der = cert["CKA_VALUE"][1]
        sha1 = o.get("CKA_CERT_SHA1_HASH")
        if sha1 is not None and hashlib.sha1(der).digest() != sha1[1]:
            raise GenError(f"trust object {label!r}: SHA-1 does not match")
        if o.get("CKA_TRUST_SERVER_AUTH", ("", ""))[1] != "CKT_NSS_TRUSTED_DELEGATOR":
            continue
        d_cert = distrust_date(cert, f"certificate {label!r}")
        d_trust = distrust_date(o, f"trust {label!r}")
        if d_cert and d_trust and d_cert != d_trust:
            raise GenError(f"{label!r}: distrust dates differ on certificate and trust")
        roots.append((cert["CKA_LABEL"][1], der, d_cert or d_trust))
    return roots


def c_string(s):
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\' or b < 0x20 or b > 0x7e or ch == "?":
            out.append("\\%03o" % b)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render(roots, provenance):
    lines = [
        "/* GENERATED by tools/gen_fallback.py from third_party/nss/certdata.txt.",
        " * Do not edit; regenerate instead (tests/test_fallback_regen.sh checks).",
        " *",
    ]
    for k in ("upstream", "commit", "date", "nss_builtins_version", "sha256", "license"):
        lines.append(f" * {k}: {provenance.get(k, '?')}")
    lines += [
        " *",
        f" * {len(roots)} roots trusted for server authentication",
        " * (CKA_TRUST_SERVER_AUTH CKT_NSS_TRUSTED_DELEGATOR).",
        " */",
        '#include "roots/fallback_data.h"',
        "",
    ]
    for i, (_, der, _) in enumerate(roots):
        lines.append(f"static const unsigned char der_{i}[{len(der)}] = {{")
        for off in range(0, len(der), 16):
            lines.append("    " + ",".join("0x%02x" % b for b in der[off:off + 16]) + ",")
        lines.append("};")
    lines.append("")
    lines.append("const struct ftls__fallback_root ftls__fallback_roots[] = {")
    for i, (label, der, dist) in enumerate(roots):
        lines.append(f"    {{{c_string(label)}, der_{i}, sizeof(der_{i}), {dist}}},")
    lines.append("};")
    lines.append("const unsigned ftls__fallback_count = "
                 "sizeof(ftls__fallback_roots) / sizeof(ftls__fallback_roots[0]);")
    lines.append(f'const char ftls__fallback_version[] = "NSS {provenance.get("nss_builtins_version", "?")} '
                 f'({provenance.get("commit", "?")[:12]})";')
    return "\n".join(lines) + "\n"


def read_provenance(path):
    prov = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                prov[k] = v
    return prov


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--certdata", default=os.path.join(ROOT, "third_party/nss/certdata.txt"))
    ap.add_argument("--provenance", default=os.path.join(ROOT, "third_party/nss/PROVENANCE"))
    ap.add_argument("--out", default=os.path.join(ROOT, "src/roots/fallback_data.c"))
    args = ap.parse_args()
    try:
        prov = read_provenance(args.provenance)
        with open(args.certdata, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if prov.get("sha256") != digest:
            raise GenError(f"{args.certdata}: SHA-256 {digest} does not match PROVENANCE")
        roots = select(parse(args.certdata))
    except GenError as e:
        print(f"gen_fallback: error: {e}", file=sys.stderr)
        return 1
    text = render(roots, prov)
    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except OSError as e:
            print(f"gen_fallback: {e}", file=sys.stderr)
            return 1
        if current != text:
            print(f"gen_fallback: {args.out} is stale; run tools/gen_fallback.py", file=sys.stderr)
            return 1
        print(f"gen_fallback: {args.out} is up to date ({len(roots)} roots)")
        return 0
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    dated = [(l, d) for l, _, d in roots if d]
    print(f"gen_fallback: wrote {args.out}: {len(roots)} roots, {len(dated)} with server distrust-after")
    for l, d in dated:
        print(f"  {l}: {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
