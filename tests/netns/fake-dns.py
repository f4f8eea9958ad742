#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A slow DNS server for tests/netns/endpoint.sh: UDP only, A records from the command line.

    fake-dns.py ADDR PORT DELAY_S NAME=IPV4...

Each query is answered DELAY_S seconds after it came (on a timer thread, so queries do not
wait for each other): an A query for a NAME listed with its address, every other query (AAAA,
a name not listed) with an empty NOERROR answer, and a name that starts with "bad-" with
NXDOMAIN at once. "ready" on stdout once the socket is bound. Queries are hostile input like
any packet: anything malformed is dropped.
"""
import socket
import struct
import sys
import threading


def parse_question(msg):
    """(id, qname, qtype, end of the question) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    labels, i = [], 12
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(msg):
            return None
        labels.append(msg[i:i + n].decode("ascii", "replace").lower())
        i += n
    if i + 4 > len(msg):
        return None
    qtype, _qclass = struct.unpack("!HH", msg[i:i + 4])
    return qid, ".".join(labels), qtype, i + 4


def answer(msg, qid, end, rcode, addr):
    header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, 1 if addr else 0, 0, 0)
    out = header + msg[12:end]
    if addr:
        out += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
    return out


def main():
    host, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    records = dict(a.lower().split("=", 1) for a in sys.argv[4:])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    print("ready", flush=True)
    while True:
        msg, peer = sock.recvfrom(512)
        q = parse_question(msg)
        if not q:
            continue
        qid, name, qtype, end = q
        print("query %s type %d" % (name, qtype), flush=True)
        if name.startswith("bad-"):
            sock.sendto(answer(msg, qid, end, 3, None), peer)
            continue
        addr = records.get(name) if qtype == 1 else None
        reply = answer(msg, qid, end, 0, addr)
        threading.Timer(delay, sock.sendto, (reply, peer)).start()


if __name__ == "__main__":
    main()
