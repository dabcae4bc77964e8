#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""mkseeds.py - write the seed corpora of the fuzz targets from the unit
tables (tests/check_*.c) and the sample configuration, so the fuzzers
start from the cases someone already thought of. Run from the top of the
tree; it rewrites tests/fuzz/corpus/{reply,addr,conf}/s* (the dns and
cache_rec seeds come from the targets themselves, FUZZ_WRITE_SEEDS=DIR;
the smtp and milter seeds are written by hand, one dialogue each).
The corpora are committed; run this again when a unit table grows."""
import hashlib
import os
import re
import struct

C_STR = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def unescape(s):
    """C string literal body -> bytes (\\r \\n \\t \\xNN \\0 \\\\ \\")."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != '\\':
            out += c.encode('utf-8')
            i += 1
            continue
        n = s[i + 1]
        i += 2
        if n == 'x':
            m = re.match(r'[0-9a-fA-F]{1,2}', s[i:])
            out.append(int(m.group(0), 16))
            i += len(m.group(0))
        elif n in '01234567':
            m = re.match(r'[0-7]{1,3}', s[i - 1:])
            out.append(int(m.group(0), 8) & 0xff)
            i += len(m.group(0)) - 1
        else:
            out += {'r': b'\r', 'n': b'\n', 't': b'\t', '\\': b'\\',
                    '"': b'"', "'": b"'", 'a': b'\a', 'e': b'\x1b'}.get(n, n.encode())
    return bytes(out)


def literals(text):
    """adjacent literals are joined, as the compiler does"""
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    out = []
    for line_group in re.split(r'[,;{}()]', text):
        parts = C_STR.findall(line_group)
        if parts:
            out.append(b''.join(unescape(p) for p in parts))
    return out


def write(target, blobs):
    d = os.path.join('tests', 'fuzz', 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith('s'):
            os.unlink(os.path.join(d, f))
    seen = set()
    for b in blobs:
        h = hashlib.sha1(b).hexdigest()[:12]
        if h in seen or len(b) == 0:
            continue
        seen.add(h)
        with open(os.path.join(d, 's' + h), 'wb') as fp:
            fp.write(b)
    print(f'{target}: {len(seen)} seeds')


def read(p):
    with open(p, encoding='utf-8') as fp:
        return fp.read()


# reply: each case of check_reply.c as a stream (lines joined by CRLF),
# behind the 5 bytes of chunking the target reads first; and the
# replies of check_verdict.c's rows
reply = []
t = read('tests/check_reply.c')
for m in re.finditer(r'\{\s*"[^"]*",\s*\{(.*?)\}\s*,\s*REPLY_', t, re.S):
    lines = [unescape(x) for x in re.findall(r'L\("((?:[^"\\]|\\.)*)"\)', m.group(1))]
    if lines:
        stream = b''.join(x + b'\r\n' for x in lines)
        reply.append(bytes([0, 0, 0, 0, 0]) + stream)
        reply.append(bytes([3, 1, 2, 3, 4]) + stream)
v = read('tests/check_verdict.c')
for m in re.finditer(r'\{\s*(\d{3}),\s*"([^"]*)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+),', v):
    text = b''.join(unescape(x) for x in C_STR.findall(m.group(3)))
    enh = m.group(2).encode()
    line = m.group(1).encode() + b' ' + (enh + b' ' if enh else b'') + text
    reply.append(bytes([7, 9, 9, 9, 9]) + line + b'\r\n')
write('reply', reply)

# addr: every literal of check_addr.c that looks like an address
addr = [b for b in literals(read('tests/check_addr.c'))
        if (b'@' in b or b'<' in b) and len(b) < 1100]
write('addr', addr)

# conf: each bad-configuration row, the sample file, and single
# settings through conf_set (first byte odd, second picks the key)
conf = []
c = read('tests/check_conf.c')
for m in re.finditer(r'\{\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*":', c):
    conf.append(b'\x00' + b''.join(unescape(x) for x in C_STR.findall(m.group(1))))
if os.path.exists('etc/sav-milter.conf'):
    with open('etc/sav-milter.conf', 'rb') as fp:
        conf.append(b'\x00' + fp.read())
for key, val in ((0, b'mx.example.test'), (1, b'probe@example.test'), (2, b'<>'),
                 (3, b'X-SAV-Verdict'), (4, b'127.0.0.1:5353'), (5, b'10.0.0.0/8, ::1'),
                 (6, b'example.test *.example.org'), (7, b'8s'),
                 (8, b'inet:8891@127.0.0.1'), (9, b'tempfail')):
    conf.append(b'\x01' + bytes([key]) + val)
write('conf', conf)
