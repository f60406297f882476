#!/usr/bin/env python3
"""Abusive clients for tests/test_serve_abuse.sh, loopback only, bounded.

    serve_abuse.py idle PORT N SECONDS
        open N TCP connections that never send a byte; hold them
    serve_abuse.py slowloris PORT N SECONDS
        N connections that send a TLS ClientHello one byte every 300 ms

Prints "ready" once every connection is open (or refused), then at the
end "closed_by_server K of N": how many the server had closed by then."""
import socket
import sys
import time

# The first bytes of a TLS 1.2/1.3 ClientHello record, enough to keep a
# server waiting for the rest.
HELLO = bytes.fromhex(
    "16030100f4010000f00303" + "11" * 32 + "00" + "0004130113020100" +
    "00c3000000")


def open_all(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            socks.append(s)
        except OSError:
            s.close()
    return socks


def closed(s):
    try:
        data = s.recv(4096)
        return data == b""  # orderly close by the server
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


def main():
    mode, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        float(sys.argv[4])
    socks = open_all(port, n)
    print("ready", len(socks), flush=True)
    end = time.monotonic() + secs
    i = 0
    gone = set()
    while time.monotonic() < end:
        if mode == "slowloris":
            for k, s in enumerate(socks):
                if k in gone:
                    continue
                try:
                    if i < len(HELLO):
                        s.send(HELLO[i:i + 1])
                except OSError:
                    gone.add(k)
            i += 1
        for k, s in enumerate(socks):
            if k not in gone and closed(s):
                gone.add(k)
        time.sleep(0.3)
    print("closed_by_server", len(gone), "of", len(socks), flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
