#!/usr/bin/env python3
"""A strict checker of Prometheus's text exposition format (version 0.0.4), for the tests.

Usage: promtext.py FILE   checks FILE and prints its samples as JSON, one object a line:
                          {"name": ..., "labels": {...}, "value": ...} (value a float or
                          the strings "NaN", "+Inf", "-Inf"); exit 1 with the first error.
       promtext.py --self-test   checks that the checker refuses what it must.

What it enforces (https://prometheus.io/docs/instrumenting/exposition_formats/): lines end
with a line feed, the last one too; metric names match [a-zA-Z_:][a-zA-Z0-9_:]* and label
names [a-zA-Z_][a-zA-Z0-9_]* (not __-prefixed); HELP at most once and TYPE at most once per
family, both before the family's first sample, TYPE one of counter, gauge, histogram,
summary, untyped; HELP text uses only the escapes \\\\ and \\n, label values only \\\\, \\"
and \\n; values are Go floats (NaN, +Inf, -Inf included); a family's samples are contiguous;
no series appears twice; labels of a sample are not repeated; a histogram's series has
_bucket samples with an le label in strictly increasing order, cumulative counts that never
decrease, an le="+Inf" bucket equal to its _count, and a _sum; counters are not negative.
And spotsweep's own conventions: snake_case names, a HELP for every family, counters named
*_total, histograms named *_seconds.
"""
import json
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SNAKE = re.compile(r"[a-z_][a-z0-9_]*")
FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(Exception):
    pass


def parse_value(s, where):
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not FLOAT.fullmatch(s):
        raise FormatError(f"{where}: bad value {s!r}")
    return float(s)


def parse_labels(text, i, where):
    """Parses {a="x",b="y"} from text[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        m = LABEL.match(text, i)
        if not m:
            raise FormatError(f"{where}: bad label name at column {i + 1}")
        name = m.group(0)
        if name.startswith("__"):
            raise FormatError(f"{where}: reserved label name {name}")
        if name in labels:
            raise FormatError(f"{where}: label {name} repeated")
        i = m.end()
        if text[i:i + 2] != '="':
            raise FormatError(f"{where}: expected =\" after label {name}")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise FormatError(f"{where}: unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt == "\\":
                    value.append("\\")
                elif nxt == '"':
                    value.append('"')
                elif nxt == "n":
                    value.append("\n")
                else:
                    raise FormatError(f"{where}: bad escape \\{nxt} in label {name}")
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                value.append(c)
                i += 1
        labels[name] = "".join(value)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        raise FormatError(f"{where}: expected , or }} after label {name}")


def family_of(name, types):
    """The declared family a sample name belongs to."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if types.get(base) in ("histogram",) or (
                    types.get(base) == "summary" and suffix != "_bucket"):
                return base
    return name


def check(text):
    if text and not text.endswith("\n"):
        raise FormatError("the last line does not end with a line feed")
    helps, types, samples, seen_series = {}, {}, [], set()
    started, closed = set(), set()
    current = None
    for n, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        where = f"line {n}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise FormatError(f"{where}: bad metric name {name!r}")
                if name in started:
                    raise FormatError(f"{where}: {parts[1]} for {name} after its samples")
                if parts[1] == "HELP":
                    if name in helps:
                        raise FormatError(f"{where}: second HELP for {name}")
                    doc = parts[3] if len(parts) == 4 else ""
                    if re.search(r"\\(?![\\n])", doc):
                        raise FormatError(f"{where}: bad escape in HELP of {name}")
                    helps[name] = doc
                else:
                    if name in types:
                        raise FormatError(f"{where}: second TYPE for {name}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise FormatError(f"{where}: bad TYPE line")
                    types[name] = parts[3]
            continue
        m = NAME.match(line)
        if not m:
            raise FormatError(f"{where}: bad metric name")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise FormatError(f"{where}: expected a space before the value")
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise FormatError(f"{where}: expected a value and an optional timestamp")
        value = parse_value(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise FormatError(f"{where}: bad timestamp {fields[1]!r}")
        fam = family_of(name, types)
        if fam != current:
            if fam in closed or fam in started:
                raise FormatError(f"{where}: samples of {fam} are not contiguous")
            if current is not None:
                closed.add(current)
            current = fam
        started.add(fam)
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise FormatError(f"{where}: series {name}{labels} appears twice")
        seen_series.add(key)
        if types.get(fam) == "counter" and value < 0:
            raise FormatError(f"{where}: negative counter {name}")
        samples.append({"name": name, "labels": labels, "value": value, "family": fam})
    check_histograms(samples, types)
    for fam in started | set(types) | set(helps):
        if not SNAKE.fullmatch(fam):
            raise FormatError(f"{fam}: not snake_case")
        if fam not in helps:
            raise FormatError(f"{fam}: no HELP")
        if fam not in types:
            raise FormatError(f"{fam}: no TYPE")
        if types[fam] == "counter" and not fam.endswith("_total"):
            raise FormatError(f"{fam}: a counter not named *_total")
        if types[fam] == "histogram" and not fam.endswith("_seconds"):
            raise FormatError(f"{fam}: a histogram not named *_seconds")
    return samples


def check_histograms(samples, types):
    series = {}
    for s in samples:
        fam = s["family"]
        if types.get(fam) != "histogram":
            continue
        labels = dict(s["labels"])
        suffix = s["name"][len(fam):]
        if suffix == "_bucket":
            if "le" not in labels:
                raise FormatError(f"{fam}: a bucket without le")
            le = parse_value(labels.pop("le"), fam)
        elif suffix in ("_sum", "_count"):
            if "le" in labels:
                raise FormatError(f"{fam}{suffix} with an le label")
        else:
            raise FormatError(f"{fam}: sample {s['name']} is not _bucket, _sum or _count")
        h = series.setdefault((fam, tuple(sorted(labels.items()))),
                              {"buckets": [], "sum": None, "count": None})
        if suffix == "_bucket":
            if h["sum"] is not None or h["count"] is not None:
                raise FormatError(f"{fam}{labels}: a bucket after _sum or _count")
            h["buckets"].append((le, s["value"]))
        else:
            h[suffix[1:]] = s["value"]
    for (fam, labels), h in series.items():
        b = h["buckets"]
        if not b:
            raise FormatError(f"{fam}{dict(labels)}: no buckets")
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if not le1 < le2:
                raise FormatError(f"{fam}{dict(labels)}: le not increasing ({le1}, {le2})")
            if c2 < c1:
                raise FormatError(f"{fam}{dict(labels)}: bucket counts decrease")
        if b[-1][0] != math.inf:
            raise FormatError(f"{fam}{dict(labels)}: no le=\"+Inf\" bucket")
        if h["count"] is None or h["sum"] is None:
            raise FormatError(f"{fam}{dict(labels)}: missing _count or _sum")
        if b[-1][1] != h["count"]:
            raise FormatError(f"{fam}{dict(labels)}: +Inf bucket {b[-1][1]} != count {h['count']}")
        if any(c != int(c) or c < 0 for _, c in b):
            raise FormatError(f"{fam}{dict(labels)}: a bucket count is not a count")


def out_value(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v


GOOD = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 1\n'
BAD = {
    "no final line feed": GOOD[:-1],
    "bad name": "# HELP 1a A.\n# TYPE 1a gauge\n1a 1\n",
    "two HELP": "# HELP a A.\n# HELP a B.\n# TYPE a gauge\na 1\n",
    "two TYPE": "# HELP a A.\n# TYPE a gauge\n# TYPE a gauge\na 1\n",
    "TYPE after samples": "# HELP a A.\na 1\n# TYPE a gauge\n",
    "bad TYPE": "# HELP a A.\n# TYPE a meter\na 1\n",
    "bad escape": '# HELP a A.\n# TYPE a gauge\na{x="\\t"} 1\n',
    "unescaped quote": '# HELP a A.\n# TYPE a gauge\na{x="""} 1\n',
    "bad value": "# HELP a A.\n# TYPE a gauge\na one\n",
    "duplicate series": '# HELP a A.\n# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n',
    "repeated label": '# HELP a A.\n# TYPE a gauge\na{x="1",x="2"} 1\n',
    "not contiguous": ("# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\n"
                       "a 1\nb 1\na{x=\"1\"} 1\n"),
    "counter without _total": "# HELP a A.\n# TYPE a counter\na 1\n",
    "negative counter": "# HELP a_total A.\n# TYPE a_total counter\na_total -1\n",
    "no HELP": "# TYPE a gauge\na 1\n",
    "le decreasing": ('# HELP h_seconds H.\n# TYPE h_seconds histogram\n'
                      'h_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="0.5"} 1\n'
                      'h_seconds_bucket{le="+Inf"} 1\nh_seconds_sum 0.1\nh_seconds_count 1\n'),
    "+Inf != count": ('# HELP h_seconds H.\n# TYPE h_seconds histogram\n'
                      'h_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 1\n'
                      'h_seconds_sum 0.1\nh_seconds_count 2\n'),
    "no +Inf": ('# HELP h_seconds H.\n# TYPE h_seconds histogram\n'
                'h_seconds_bucket{le="1"} 1\nh_seconds_sum 0.1\nh_seconds_count 1\n'),
    "counts decrease": ('# HELP h_seconds H.\n# TYPE h_seconds histogram\n'
                        'h_seconds_bucket{le="1"} 2\nh_seconds_bucket{le="2"} 1\n'
                        'h_seconds_bucket{le="+Inf"} 2\nh_seconds_sum 0.1\nh_seconds_count 2\n'),
    "not snake_case": "# HELP aB A.\n# TYPE aB gauge\naB 1\n",
}


def self_test():
    s = check(GOOD)
    assert s[0]["labels"] == {"x": 'q"\\\n'}, s
    for what, text in BAD.items():
        try:
            check(text)
        except FormatError:
            continue
        raise SystemExit(f"self-test: accepted {what}: {text!r}")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    text = open(sys.argv[1], encoding="utf-8").read()
    try:
        samples = check(text)
    except FormatError as e:
        print(f"promtext: {sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(1)
    for s in samples:
        print(json.dumps({"name": s["name"], "labels": s["labels"], "value": out_value(s["value"])}))


if __name__ == "__main__":
    main()
