#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""milter_raw.py - raw milter protocol packets to a running sav-milter,
for the lab: what a hostile or broken local process that reaches the
milter socket can send, below what miltertest allows.

  milter_raw.py SOCKET oddmacro      macro packets with a name and no
                                     value at MAIL (and a longer odd list),
                                     then MAIL FROM: each session must be
                                     answered
  milter_raw.py SOCKET random SEED N N sessions of seeded random packets
                                     (framing kept, contents random); a
                                     session may be answered or dropped,
                                     but the milter must still answer a
                                     clean session after each one

Prints one line per failure (with the seed and session number that
reproduce it) and exits 1 when any session failed; the connect packet
always names 127.0.0.1, which the lab trusts, so nothing is probed.
SOCKET is a unix socket path."""
import random
import socket
import struct
import sys

VERSION, ACTIONS, PROTO = 6, 0x1ff, 0x1fffff


def pkt(cmd, data=b''):
    return struct.pack('>I', len(data) + 1) + cmd + data


def connect_pkt():
    return pkt(b'C', b'client.lab.test\0' + b'4' + struct.pack('>H', 4242) + b'127.0.0.1\0')


def negotiate_pkt():
    return pkt(b'O', struct.pack('>III', VERSION, ACTIONS, PROTO))


def read_reply(s):
    hdr = b''
    while len(hdr) < 4:
        b = s.recv(4 - len(hdr))
        if not b:
            return None
        hdr += b
    n = struct.unpack('>I', hdr)[0]
    body = b''
    while len(body) < n:
        b = s.recv(n - len(body))
        if not b:
            return None
        body += b
    return body[:1]


def session(path, packets, want_replies):
    """send packets; read a reply after each index in want_replies"""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    got = []
    try:
        for i, p in enumerate(packets):
            s.sendall(p)
            if i in want_replies:
                got.append(read_reply(s))
        s.sendall(pkt(b'Q'))
    except OSError:
        got.append(None)
    finally:
        s.close()
    return got


def clean_ok(path):
    try:
        got = session(path, [negotiate_pkt(), connect_pkt(), pkt(b'M', b'<>\0')], {0, 1, 2})
    except OSError:
        return False
    return None not in got and len(got) == 3


def oddmacro(path):
    bad = 0
    for macro in (b'j\0', b'j\0v\0k\0', b'{auth_authen}\0', b'i\0ABC\0{auth_authen}\0'):
        pk = [negotiate_pkt(), connect_pkt(), pkt(b'D', b'M' + macro),
              pkt(b'M', b'<sender@example.test>\0')]
        try:
            got = session(path, pk, {0, 1, 3})
        except OSError:
            got = [None]
        if None in got or len(got) != 3:
            print('milter_raw: FAIL: no answer to MAIL after macro packet %r' % macro)
            bad += 1
        if not clean_ok(path):
            print('milter_raw: FAIL: milter gone after macro packet %r' % macro)
            return 1
    return 1 if bad else 0


def random_bytes(r, n):
    pick = r.random()
    if pick < 0.3:
        return bytes(r.getrandbits(8) for _ in range(n))
    words = [b'<', b'>', b'@', b'\0', b'j', b'i', b'{auth_authen}', b'{daemon_name}',
             b'example.test', b'%', b'\r\n', b'\xff', b'<>', b'user']
    return b''.join(r.choice(words) for _ in range(max(1, n // 4)))[:n]


def random_session(r):
    cmds = [b'D', b'M', b'R', b'H', b'L', b'N', b'E', b'B', b'A', b'T', b'U', b'C', b'O', b'X']
    pk = [negotiate_pkt(), connect_pkt()]
    for _ in range(r.randint(1, 12)):
        c = r.choice(cmds)
        if c == b'D':
            data = r.choice([b'C', b'H', b'M', b'R', b'T', b'E', b'N', b'Z']) + \
                random_bytes(r, r.randint(0, 64))
        elif c == b'O':
            data = struct.pack('>III', r.getrandbits(32), r.getrandbits(32), r.getrandbits(32))
        else:
            data = random_bytes(r, r.randint(0, 300))
        pk.append(pkt(c, data))
    return pk


def fuzz(path, seed, n):
    bad = 0
    for i in range(n):
        r = random.Random(seed * 100003 + i)
        pk = random_session(r)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect(path)
            for p in pk:
                s.sendall(p)
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
        except OSError:
            pass
        finally:
            s.close()
        if not clean_ok(path):
            print('milter_raw: FAIL: milter does not answer after session %d (seed %d): %r'
                  % (i, seed, b''.join(pk)[:200]))
            bad += 1
            break
    return 1 if bad else 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 64
    path, mode = sys.argv[1], sys.argv[2]
    if mode == 'oddmacro':
        return oddmacro(path)
    if mode == 'random':
        return fuzz(path, int(sys.argv[3]), int(sys.argv[4]))
    print(__doc__)
    return 64


sys.exit(main())
