#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
# prom_check.py - a strict reader of the Prometheus text exposition format
# (version 0.0.4) as node_exporter's textfile collector reads it, for the
# lab: prom_check.py FILE checks every rule below and, when the file
# passes, prints each sample as "name{labels} value" (labels sorted by
# name, values unescaped and re-escaped) on stdout; on the first broken
# rule it prints "prom_check: FILE:LINE: why" on stderr and exits 1.
#
# Rules:
#   - UTF-8 text, every line ended by a line feed;
#   - "# HELP name text": text escapes only \\ and \n; at most one per name;
#   - "# TYPE name type": type counter, gauge, histogram, summary or
#     untyped; at most one per name, before the first sample of the family;
#   - other "#" lines are comments, empty lines are ignored;
#   - sample: name [{label="value",...}] value [timestamp]; names
#     [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not
#     "__"-prefixed, no label twice, values escape only \\ \" \n; the value
#     a float (NaN, +Inf, -Inf allowed); the textfile collector refuses
#     timestamps, so one is an error here;
#   - a family's lines are contiguous; no series appears twice;
#   - counters: named ..._total (the convention), never negative;
#   - histograms: only _bucket (with le), _sum and _count samples; per
#     label set the le bounds ascend, counts never fall, the last le is
#     +Inf and equals _count; _sum present;
#   - with --sav: every family has HELP and TYPE, is named sav_..., and
#     sav_stats_generated_timestamp_seconds is present.

import math
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LNAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


class Bad(Exception):
    pass


def parse_value(s):
    if s in ('+Inf', 'Inf'):
        return math.inf
    if s == '-Inf':
        return -math.inf
    if s == 'NaN':
        return math.nan
    if not re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', s):
        raise Bad('bad value %r' % s)
    return float(s)


def parse_labels(s, i):
    """labels from s[i] (just after '{'); returns (list of (k, v), index after '}')"""
    out = []
    seen = set()
    if s[i:i + 1] == '}':
        return out, i + 1
    while True:
        m = LNAME.match(s, i)
        if not m:
            raise Bad('bad label name at %r' % s[i:i + 20])
        k = m.group(0)
        if k.startswith('__'):
            raise Bad('reserved label name %s' % k)
        if k in seen:
            raise Bad('label %s twice' % k)
        seen.add(k)
        i = m.end()
        if s[i:i + 2] != '="':
            raise Bad('want =" after label %s' % k)
        i += 2
        v = []
        while True:
            if i >= len(s):
                raise Bad('unterminated label value')
            c = s[i]
            if c == '\\':
                e = s[i + 1:i + 2]
                if e == '\\':
                    v.append('\\')
                elif e == '"':
                    v.append('"')
                elif e == 'n':
                    v.append('\n')
                else:
                    raise Bad('bad escape \\%s in a label value' % e)
                i += 2
                continue
            if c == '"':
                i += 1
                break
            v.append(c)
            i += 1
        out.append((k, ''.join(v)))
        if s[i:i + 1] == ',':
            i += 1
            if s[i:i + 1] == '}':	# a trailing comma is allowed
                return out, i + 1
            continue
        if s[i:i + 1] == '}':
            return out, i + 1
        raise Bad('want , or } after a label value')


def help_ok(s):
    i = 0
    while i < len(s):
        if s[i] == '\\':
            if s[i + 1:i + 2] not in ('\\', 'n'):
                return False
            i += 2
        else:
            i += 1
    return True


def family_of(name, types):
    for suffix in ('_bucket', '_sum', '_count'):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if types.get(base) in ('histogram', 'summary'):
                return base
    return name


def esc(v):
    return v.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def check(path, sav):
    data = open(path, 'rb').read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise Bad('not UTF-8')
    if text and not text.endswith('\n'):
        raise Bad('no line feed at the end')
    helps, types = {}, {}
    done = set()		# families whose lines are over
    current = None
    series = set()
    samples = []
    hist = {}			# (family, labels without le) -> list of (le, count)
    hist_sum, hist_count = {}, {}
    lineno = 0
    for line in text.split('\n')[:-1]:
        lineno += 1
        try:
            if line == '':
                continue
            if line.startswith('#'):
                parts = line.split(' ', 3)
                if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                    name = parts[2]
                    if not NAME.fullmatch(name):
                        raise Bad('bad metric name %r' % name)
                    rest = parts[3] if len(parts) > 3 else ''
                    if name in done:
                        raise Bad('%s for %s after its samples ended' % (parts[1], name))
                    if parts[1] == 'HELP':
                        if name in helps:
                            raise Bad('HELP for %s twice' % name)
                        if not help_ok(rest):
                            raise Bad('bad escape in HELP text')
                        helps[name] = rest
                    else:
                        if name in types:
                            raise Bad('TYPE for %s twice' % name)
                        if rest not in TYPES:
                            raise Bad('unknown type %r' % rest)
                        if any(family_of(s[0], {name: rest}) == name for s in samples):
                            raise Bad('TYPE for %s after its first sample' % name)
                        types[name] = rest
                    if current is not None and current != name:
                        done.add(current)
                    current = name
                continue
            m = NAME.match(line)
            if not m:
                raise Bad('bad metric name')
            name = m.group(0)
            i = m.end()
            labels = []
            if line[i:i + 1] == '{':
                labels, i = parse_labels(line, i + 1)
            if line[i:i + 1] != ' ':
                raise Bad('want one space before the value')
            rest = line[i + 1:].split(' ')
            if len(rest) == 2:
                raise Bad('a timestamp (the textfile collector refuses them)')
            if len(rest) != 1:
                raise Bad('junk after the value')
            value = parse_value(rest[0])
            fam = family_of(name, types)
            if fam in done:
                raise Bad('family %s is not contiguous' % fam)
            if current is not None and current != fam:
                done.add(current)
            current = fam
            key = (name, tuple(sorted(labels)))
            if key in series:
                raise Bad('series %s%s twice' % key)
            series.add(key)
            t = types.get(fam, 'untyped')
            if t == 'counter':
                if not name.endswith('_total'):
                    raise Bad('counter %s not named _total' % name)
                if not value >= 0:
                    raise Bad('counter %s is negative or NaN' % name)
            if t == 'histogram':
                rest_l = tuple(sorted(x for x in labels if x[0] != 'le'))
                if name == fam + '_bucket':
                    le = [v for k, v in labels if k == 'le']
                    if not le:
                        raise Bad('bucket without le')
                    hist.setdefault((fam, rest_l), []).append((parse_value(le[0]), value))
                elif name == fam + '_sum':
                    hist_sum[(fam, rest_l)] = value
                elif name == fam + '_count':
                    hist_count[(fam, rest_l)] = value
                else:
                    raise Bad('%s in histogram %s' % (name, fam))
            if sav:
                if not fam.startswith('sav_'):
                    raise Bad('family %s is not sav_...' % fam)
                if fam not in helps or fam not in types:
                    raise Bad('family %s without HELP and TYPE before it' % fam)
            samples.append((name, labels, value))
        except Bad as e:
            raise Bad('%d: %s' % (lineno, e))
    for key, bs in hist.items():
        les = [b[0] for b in bs]
        if les != sorted(les) or len(set(les)) != len(les):
            raise Bad('histogram %s: le bounds not ascending' % key[0])
        if any(bs[j][1] > bs[j + 1][1] for j in range(len(bs) - 1)):
            raise Bad('histogram %s: bucket counts fall' % key[0])
        if les[-1] != math.inf:
            raise Bad('histogram %s: no le="+Inf" bucket' % key[0])
        if hist_count.get(key) != bs[-1][1]:
            raise Bad('histogram %s: _count %s != +Inf bucket %s' % (key[0], hist_count.get(key), bs[-1][1]))
        if key not in hist_sum:
            raise Bad('histogram %s: no _sum' % key[0])
    if sav and not any(s[0] == 'sav_stats_generated_timestamp_seconds' for s in samples):
        raise Bad('no sav_stats_generated_timestamp_seconds')
    return samples


def main():
    args = sys.argv[1:]
    sav = False
    if args and args[0] == '--sav':
        sav = True
        args = args[1:]
    if len(args) != 1:
        print('usage: prom_check.py [--sav] FILE', file=sys.stderr)
        return 64
    try:
        samples = check(args[0], sav)
    except (Bad, OSError) as e:
        print('prom_check: %s:%s' % (args[0], e), file=sys.stderr)
        return 1
    for name, labels, value in samples:
        lab = ','.join('%s="%s"' % (k, esc(v)) for k, v in sorted(labels))
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            v = '%d' % value
        else:
            v = repr(value)
        print('%s{%s} %s' % (name, lab, v) if lab else '%s %s' % (name, v))
    return 0


if __name__ == '__main__':
    sys.exit(main())
