"""Label and field selectors, as kubectl sends them and as objects carry them.

String selectors (``app=web,tier!=db``, ``env in (a,b)``, ``!foo``, ``foo``)
and ``LabelSelector`` objects (``matchLabels``/``matchExpressions``) both
become a :class:`Selector`; field selectors (``metadata.name=x``) become
:class:`FieldRequirement` s that a caller evaluates on an object's JSON dict.
The syntax checks for label keys and values live here because selectors
need them; :mod:`kubelite.api.validation` reuses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubelite.api.core import LabelSelector

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def dns1123_label_errors(value: str) -> list[str]:
    """Why ``value`` is not an RFC 1123 label (namespace, container names); empty if it is."""
    errors = []
    if len(value) > DNS1123_LABEL_MAX:
        errors.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _DNS1123_LABEL.fullmatch(value):
        errors.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc')"
        )
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why ``value`` is not an RFC 1123 subdomain (most object names); empty if it is."""
    errors = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errors.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com')"
        )
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """Why ``value`` is not a label/annotation key (``[prefix/]name``); empty if it is."""
    prefix, slash, name = value.rpartition("/")
    if slash and not prefix:
        return ["prefix part must be non-empty"]
    errors = [f"prefix part {e}" for e in dns1123_subdomain_errors(prefix)] if slash else []
    if not name:
        return [*errors, "name part must be non-empty"]
    if len(name) > DNS1123_LABEL_MAX:
        errors.append(f"name part must be no more than {DNS1123_LABEL_MAX} characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc')"
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a label value (may be empty); empty if it is."""
    errors = []
    if len(value) > DNS1123_LABEL_MAX:
        errors.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345')"
        )
    return errors


# Operators, spelled as in string selectors.
EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
_SET_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector; all clauses of a selector must hold."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator in (EQUALS, IN):
            return present and value in self.values
        if self.operator in (NOT_EQUALS, NOT_IN):
            return not present or value not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if not present or not re.fullmatch(r"-?\d+", value):
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.operator == GT else int(value) < bound

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        symbol = {GT: ">", LT: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements. No requirements = everything; ``nothing`` = no object."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels or {}) for r in self.requirements)

    def is_empty(self) -> bool:
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _check_key(key: str) -> None:
    errors = qualified_name_errors(key)
    if errors:
        raise ValueError(f"invalid label key {key!r}: {'; '.join(errors)}")


def _check_value(value: str) -> None:
    errors = label_value_errors(value)
    if errors:
        raise ValueError(f"invalid label value {value!r}: {'; '.join(errors)}")


_TOKEN = re.compile(r"\s*(!=|==|=|!|,|\(|\)|>|<|[^\s!=,()<>]+)")


def _tokens(text: str) -> list[str]:
    """Every non-space character starts a token, so findall loses nothing."""
    return _TOKEN.findall(text)


class _SelectorParser:
    """Recursive-descent parser for kubectl's label selector grammar."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self, what: str) -> str:
        token = self._peek()
        if token is None:
            raise ValueError(f"unable to parse selector {self.text!r}: expected {what}, found end of input")
        self.pos += 1
        return token

    def _identifier(self, what: str) -> str:
        token = self._next(what)
        if token in ("!=", "==", "=", "!", ",", "(", ")", ">", "<"):
            raise ValueError(f"unable to parse selector {self.text!r}: expected {what}, found {token!r}")
        return token

    def parse(self) -> Selector:
        requirements = []
        while self._peek() is not None:
            requirements.append(self._requirement())
            if self._peek() is None:
                break
            if self._next("','") != ",":
                raise ValueError(f"unable to parse selector {self.text!r}: expected ',' between requirements")
            if self._peek() is None:
                raise ValueError(f"unable to parse selector {self.text!r}: expected a requirement after ','")
        return Selector(tuple(requirements))

    def _requirement(self) -> Requirement:
        if self._peek() == "!":
            self.pos += 1
            key = self._identifier("a key after '!'")
            _check_key(key)
            return Requirement(key, DOES_NOT_EXIST)
        key = self._identifier("a key")
        _check_key(key)
        op = self._peek()
        if op is None or op == ",":
            return Requirement(key, EXISTS)
        self.pos += 1
        if op in ("=", "==", "!="):
            value = self._value()
            _check_value(value)
            return Requirement(key, NOT_EQUALS if op == "!=" else EQUALS, (value,))
        if op in (">", "<"):
            bound = self._identifier("an integer")
            if not re.fullmatch(r"-?\d+", bound):
                raise ValueError(f"unable to parse selector {self.text!r}: {bound!r} is not an integer")
            return Requirement(key, GT if op == ">" else LT, (bound,))
        if op in (IN, NOT_IN):
            return Requirement(key, op, self._value_set())
        raise ValueError(f"unable to parse selector {self.text!r}: unknown operator {op!r} after key {key!r}")

    def _value(self) -> str:
        """A value may be empty (``a=``), so a following ',' or the end means ''."""
        token = self._peek()
        if token is None or token == ",":
            return ""
        return self._identifier("a value")

    def _value_set(self) -> tuple[str, ...]:
        if self._next("'('") != "(":
            raise ValueError(f"unable to parse selector {self.text!r}: expected '(' after set operator")
        values = []
        while True:
            token = self._peek()
            if token in (",", ")"):
                values.append("")
            else:
                values.append(self._identifier("a value"))
            closing = self._next("',' or ')'")
            if closing == ")":
                break
            if closing != ",":
                raise ValueError(f"unable to parse selector {self.text!r}: expected ',' or ')', found {closing!r}")
        for value in values:
            _check_value(value)
        return tuple(sorted(set(values)))


def parse_selector(text: str) -> Selector:
    """Parse a string label selector (``-l`` / ``labelSelector=``); ValueError if malformed."""
    return _SelectorParser(text).parse()


def selector_from_labels(labels: Mapping[str, str]) -> Selector:
    """The selector matching exactly these key=value pairs (e.g. a pod template's labels)."""
    return Selector(tuple(Requirement(k, EQUALS, (v,)) for k, v in sorted(labels.items())))


def selector_from_label_selector(selector: LabelSelector | None) -> Selector:
    """Kubernetes' LabelSelectorAsSelector: ``None`` selects nothing, ``{}`` everything."""
    if selector is None:
        return Selector(nothing=True)
    requirements = [Requirement(k, EQUALS, (v,)) for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        operator = _SET_OPERATORS.get(expr.operator)
        if operator is None:
            raise ValueError(f"{expr.operator!r} is not a valid label selector operator")
        values = tuple(sorted(set(expr.values or [])))
        if operator in (IN, NOT_IN) and not values:
            raise ValueError(f"for '{expr.operator}' operator, values set can't be empty")
        if operator in (EXISTS, DOES_NOT_EXIST) and values:
            raise ValueError(f"values set must be empty for {expr.operator}")
        requirements.append(Requirement(expr.key, operator, values))
    return Selector(tuple(requirements))


@dataclass(frozen=True)
class FieldRequirement:
    """``path=value`` or ``path!=value`` on an object's JSON; a missing field reads as ''."""

    path: str
    value: str
    negated: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (field_value(obj, self.path) == self.value) != self.negated


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at a dotted path as a field selector compares it ('' if absent)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str) -> list[FieldRequirement]:
    """Parse ``metadata.name=x,spec.nodeName!=`` (``\\,`` escapes a comma); ValueError if malformed."""
    requirements = []
    for clause in _split_unescaped(text):
        if not clause.strip():
            continue
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(!=|==|=)\s*(.*?)\s*", clause, re.DOTALL)
        if match is None:
            raise ValueError(f"invalid field selector {clause!r}: expected <field>=<value> or <field>!=<value>")
        path, op, value = match.groups()
        requirements.append(FieldRequirement(path, _unescape(value), op == "!="))
    return requirements


def matches_fields(requirements: Iterable[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    return all(r.matches(obj) for r in requirements)


def _split_unescaped(text: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current + ("\\" if escaped else ""))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
