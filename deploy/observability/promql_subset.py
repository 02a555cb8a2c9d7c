"""The part of PromQL that hotproxy-dashboard.json's queries use, evaluated over scraped samples,
so that the dashboard's own queries can be plotted where no Prometheus runs
(render_dashboard_pngs.py).

    expr     := operand ("/" operand)?
    operand  := "sum" ("by" "(" labels ")")? "(" expr ")"
              | "histogram_quantile" "(" number "," expr ")"
              | ("rate" | "increase") "(" selector "[" duration "]" ")"
              | selector
    selector := metric "{" (label ("=" | "=~") "string")* "}"

``rate`` and ``increase`` use the first and last sample in the window, with counter resets
added back (no extrapolation to the window's edges, which Prometheus does). ``histogram_quantile``
interpolates inside the bucket as Prometheus does.
"""
from __future__ import annotations

import math
import re

TOKEN = re.compile(r'\s*(?:(?P<number>\d+(?:\.\d+)?)(?P<unit>[smh])?(?![\w])|(?P<word>[a-zA-Z_][a-zA-Z0-9_]*)'
                   r'|(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>=~|[(){}\[\],=/]))')
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
UNITS = {"s": 1, "m": 60, "h": 3600, None: 1}


def parse_exposition(text):
    """``{(name, ((label, value), ...)): value}`` of one scrape."""
    out = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = tuple(sorted(LABEL.findall(match["labels"] or "")))
            out[(match["name"], labels)] = float(match["value"])
    return out


class Series:
    """Scrapes in time order: ``[(t, {(name, labels): value})]``."""

    def __init__(self, scrapes):
        self.scrapes = scrapes

    def at(self, t):
        """The last scrape at or before ``t``."""
        chosen = None
        for when, samples in self.scrapes:
            if when > t:
                break
            chosen = samples
        return chosen or {}

    def window(self, t, seconds):
        return [(when, samples) for when, samples in self.scrapes if t - seconds < when <= t]


def evaluate(query, series, t, variables=None):
    """``{labels tuple: value}`` of ``query`` at time ``t``."""
    for name, value in (variables or {}).items():
        query = query.replace(name, value)
    parser = _Parser(query)
    node = parser.expr()
    parser.expect_end()
    return node(series, t)


class _Parser:
    def __init__(self, text):
        self.tokens = []
        position = 0
        while position < len(text):
            match = TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise ValueError(f"cannot read {text[position:position + 20]!r}")
            self.tokens.append(match)
            position = match.end()
        self.index = 0

    def peek(self, kind=None, text=None):
        if self.index >= len(self.tokens):
            return None
        token = self.tokens[self.index]
        if kind and token[kind] is None:
            return None
        if text and token.group(kind or 0).strip() != text:
            return None
        return token

    def take(self, kind=None, text=None):
        token = self.peek(kind, text)
        if token is None:
            found = self.tokens[self.index].group(0) if self.index < len(self.tokens) else "the end"
            raise ValueError(f"expected {text or kind}, found {found!r}")
        self.index += 1
        return token

    def expect_end(self):
        if self.index != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.index].group(0)!r}")

    def expr(self):
        left = self.operand()
        if self.peek("op", "/"):
            self.take("op", "/")
            right = self.operand()
            return lambda series, t: _divide(left(series, t), right(series, t))
        return left

    def operand(self):
        word = self.take("word")["word"]
        if word == "sum":
            by = ()
            if self.peek("word", "by"):
                self.take("word", "by")
                by = self._labels()
            self.take("op", "(")
            inner = self.expr()
            self.take("op", ")")
            return lambda series, t: _sum(inner(series, t), by)
        if word == "histogram_quantile":
            self.take("op", "(")
            fraction = float(self.take("number")["number"])
            self.take("op", ",")
            inner = self.expr()
            self.take("op", ")")
            return lambda series, t: _quantile(fraction, inner(series, t))
        if word in ("rate", "increase"):
            self.take("op", "(")
            name, matchers = self.take("word")["word"], self._matchers()
            self.take("op", "[")
            duration = self.take("number")
            seconds = float(duration["number"]) * UNITS[duration["unit"]]
            self.take("op", "]")
            self.take("op", ")")
            per_second = word == "rate"
            return lambda series, t: _increase(series, t, seconds, name, matchers, per_second)
        matchers = self._matchers()
        return lambda series, t: {labels: value for (metric, labels), value in series.at(t).items()
                                  if metric == word and _matches(labels, matchers)}

    def _labels(self):
        self.take("op", "(")
        labels = [self.take("word")["word"]]
        while self.peek("op", ","):
            self.take("op", ",")
            labels.append(self.take("word")["word"])
        self.take("op", ")")
        return tuple(labels)

    def _matchers(self):
        self.take("op", "{")
        matchers = []
        while not self.peek("op", "}"):
            label = self.take("word")["word"]
            operator = self.take("op").group("op")
            value = self.take("string")["string"][1:-1].replace('\\"', '"')
            matchers.append((label, operator, value))
            if self.peek("op", ","):
                self.take("op", ",")
        self.take("op", "}")
        return matchers


def _matches(labels, matchers):
    values = dict(labels)
    for label, operator, expected in matchers:
        actual = values.get(label, "")
        if operator == "=" and actual != expected:
            return False
        if operator == "=~" and not re.fullmatch(expected, actual):
            return False
    return True


def _increase(series, t, seconds, name, matchers, per_second):
    window = series.window(t, seconds)
    points = {}
    for when, samples in window:
        for (metric, labels), value in samples.items():
            if metric == name and _matches(labels, matchers):
                points.setdefault(labels, []).append((when, value))
    out = {}
    for labels, values in points.items():
        if len(values) < 2:
            continue
        total = 0.0
        for (_, previous), (_, current) in zip(values, values[1:]):
            total += current - previous if current >= previous else current   # a reset
        elapsed = values[-1][0] - values[0][0]
        out[labels] = total / elapsed if per_second else total
    return out


def _sum(vector, by):
    out = {}
    for labels, value in vector.items():
        key = tuple((name, label_value) for name, label_value in labels if name in by)
        out[key] = out.get(key, 0.0) + value
    return out


def _divide(left, right):
    return {labels: value / right[labels] for labels, value in left.items()
            if labels in right and right[labels]}


def _quantile(fraction, vector):
    groups = {}
    for labels, value in vector.items():
        bound = dict(labels).get("le")
        if bound is None:
            continue
        key = tuple(item for item in labels if item[0] != "le")
        groups.setdefault(key, []).append((math.inf if bound == "+Inf" else float(bound), value))
    out = {}
    for key, buckets in groups.items():
        buckets.sort()
        total = buckets[-1][1]
        if total <= 0:
            continue
        rank = fraction * total
        lower_bound, lower_count = 0.0, 0.0
        for bound, count in buckets:
            if count >= rank:
                if math.isinf(bound):       # Prometheus answers the highest finite bound
                    out[key] = lower_bound
                elif count == lower_count:
                    out[key] = bound
                else:
                    out[key] = lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
                break
            lower_bound, lower_count = bound, count
    return out
