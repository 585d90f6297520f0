"""Kubernetes protobuf bodies (``application/vnd.kubernetes.protobuf``) ↔ JSON documents.

client-go sends typed writes (``kubectl create namespace|deployment``,
``expose``, evictions) as protobuf and does not fall back to JSON, so the
gateway decodes them like kube-apiserver: the 4-byte magic ``k8s\\0``, then a
``runtime.Unknown`` envelope (``typeMeta``, ``raw``, ``contentEncoding``,
``contentType``) whose ``raw`` is the object's message.

The wire format is the ``protobuf`` library's (descriptor_pb2 →
descriptor_pool → message_factory); nothing here parses bytes by hand. The
message descriptors are built at first use from two tables: the structure
(field names, nesting, lists, maps) from ``k8s_schema.json``, the same table
field validation and OpenAPI use, and the field numbers and protobuf types
from ``k8s_proto.json`` (:mod:`kubelite.gateway.protobuf_gen`, read from
Kubernetes' published ``generated.proto`` files). A new kind needs only its
root in both tables.

The JSON shape follows Go's ``encoding/json`` on the decoded Go struct, as
kube-apiserver's conversion does: a zero scalar is written only when its Go
field is a pointer or not ``omitempty``; a nested message present on the wire
(Go writes non-pointer structs always) is ``{}`` even when empty; a zero
``Time`` is null (left out); Quantity is its string, IntOrString an int or a
string, Time RFC 3339 in seconds, MicroTime in microseconds, bytes base64,
FieldsV1 and RawExtension the JSON they carry.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from kubelite.util import clock, packaged
from kubelite.api.schema import k8s_schema

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_PACKAGE = "kubelite.k8s"
_SCALARS = {
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
}
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE


class ProtobufError(ValueError):
    """The bytes are not a Kubernetes protobuf object kubelite knows (the gateway answers 400)."""


@dataclass
class Field:
    """One JSON field of a message: where it is on the wire and how it reads as JSON."""

    json: str
    number: int
    value: str  # a scalar of _SCALARS, a special (Quantity, Time, ...), or "" for a nested message
    message: str = ""  # the nested message's schema type name (value == "")
    shape: str = ""  # "", "[]" or "{}"
    keep_zero: bool = False
    inline: MessageSpec | None = None  # an embedded Go struct: a message on the wire, flat in JSON


@dataclass
class MessageSpec:
    name: str
    fields: dict[str, Field] = field(default_factory=dict)  # by JSON name; inline groups by "#<number>"


@dataclass(frozen=True)
class Codec:
    """Message classes and field maps for every schema type, in a private descriptor pool."""

    specs: dict[str, MessageSpec]
    classes: dict[str, type[Message]]
    roots: dict[str, str]  # kind → schema type; "<apiVersion>/<kind>" for a kind's other served versions

    def root(self, api_version: str, kind: str) -> str | None:
        """The schema type of ``kind`` in ``api_version``: its own entry if that version has one; None
        when it has no protobuf message (APIService: kubelite_gen reads k8s.io/api only)."""
        root = self.roots.get(f"{api_version}/{kind}") or self.roots.get(kind)
        return root if root in self.classes else None


# -- building the descriptors ---------------------------------------------------------------------

def _spec(name: str, entries: dict[str, list[Any]], schema_fields: dict[str, str]) -> MessageSpec:
    spec = MessageSpec(name)
    for json_name, (path, value, keep) in entries.items():
        ref = schema_fields.get(json_name, value)
        shape = ref[:2] if ref[:2] in ("[]", "{}") else ""
        nested = ref[len(shape):] if value == "" else ""
        f = Field(json_name, path[-1], value, nested, shape, bool(keep))
        holder = spec
        for number in path[:-1]:  # embedded Go structs, possibly nested (NamedRuleWithOperations → Rule)
            inner = f"{holder.name}_{number}"
            group = holder.fields.setdefault(f"#{number}", Field(f"#{number}", number, "", inner,
                                                                 inline=MessageSpec(inner)))
            assert group.inline is not None
            holder = group.inline
        holder.fields[json_name] = f
    return spec


def _descriptor(spec: MessageSpec, file: descriptor_pb2.FileDescriptorProto) -> None:
    message = file.message_type.add(name=spec.name)
    for f in spec.fields.values():
        if f.inline is not None:
            _descriptor(f.inline, file)
        proto_name = f.json if not f.json.startswith("#") else f"inline{f.number}"
        type_name = f".{_PACKAGE}.{f.message or f.value}"
        if f.shape == "{}":
            entry = message.nested_type.add(name=f"{proto_name[:1].upper()}{proto_name[1:]}Entry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, label=_OPTIONAL, type=_SCALARS["string"])
            value = entry.field.add(name="value", number=2, label=_OPTIONAL)
            _set_type(value, f, type_name)
            message.field.add(name=proto_name, number=f.number, label=_REPEATED, type=_MESSAGE,
                              type_name=f".{_PACKAGE}.{spec.name}.{entry.name}")
            continue
        fd = message.field.add(name=proto_name, number=f.number, label=_REPEATED if f.shape == "[]" else _OPTIONAL)
        _set_type(fd, f, type_name)


def _set_type(fd: descriptor_pb2.FieldDescriptorProto, f: Field, type_name: str) -> None:
    if f.value in _SCALARS:
        fd.type = _SCALARS[f.value]
    else:
        fd.type = _MESSAGE
        fd.type_name = type_name


@cache
def codec() -> Codec:
    table = packaged.read_json("kubelite.gateway", "k8s_proto.json")
    schema = k8s_schema()
    specs = {name: _spec(name, entries, {}) for name, entries in table["special"].items()}
    specs.update({name: _spec(name, entries, schema["types"][name]) for name, entries in table["messages"].items()})
    file = descriptor_pb2.FileDescriptorProto(name="kubelite/k8s.proto", package=_PACKAGE, syntax="proto2")
    for spec in specs.values():
        _descriptor(spec, file)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    classes = {}
    for message in file.message_type:
        classes[message.name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{message.name}"))
    return Codec(specs, classes, dict(schema["roots"]))


# -- protobuf → JSON --------------------------------------------------------------------------------

def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON document of a Kubernetes protobuf body; ProtobufError if it is not one kubelite knows."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    c = codec()
    envelope = c.classes["Unknown"]()
    try:
        envelope.ParseFromString(body[len(MAGIC):])
    except DecodeError as exc:
        raise ProtobufError(f"the protobuf envelope is malformed: {exc}") from exc
    if envelope.contentEncoding:
        raise ProtobufError(f"unsupported content encoding {envelope.contentEncoding!r}")
    api_version, kind = envelope.typeMeta.apiVersion, envelope.typeMeta.kind
    root = c.root(api_version, kind)
    if root is None:
        raise ProtobufError(f'no protobuf message for kind "{kind}" in version "{api_version}"')
    message = c.classes[root]()
    try:
        message.ParseFromString(envelope.raw)
    except DecodeError as exc:
        raise ProtobufError(f"the {kind} message is malformed: {exc}") from exc
    return {"kind": kind, "apiVersion": api_version, **to_json(message, c.specs[root])}


def to_json(message: Message, spec: MessageSpec) -> dict[str, Any]:
    by_number = {f.number: f for f in spec.fields.values()}
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        f = by_number[fd.number]
        if f.inline is not None:
            out.update(to_json(value, f.inline))
        elif f.shape == "{}":
            out[f.json] = {k: _value(f, v) for k, v in value.items()}
        elif f.shape == "[]":
            out[f.json] = [_value(f, v) for v in value]
        else:
            converted = _value(f, value)
            if converted is None or (f.value in _SCALARS and not f.keep_zero and not converted):
                continue  # Go's omitempty (or a zero Time, which JSON writes as null)
            out[f.json] = converted
    return out


def _value(f: Field, value: Any) -> Any:
    kind = f.value
    if kind == "":
        return to_json(value, codec().specs[f.message])
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind in _SCALARS:
        return value
    if kind == "Quantity":
        return value.string or "0"
    if kind == "IntOrString":
        return value.strVal if value.type == 1 else value.intVal
    if kind in ("Time", "MicroTime"):
        if not value.ListFields():
            return None
        when = datetime.fromtimestamp(value.seconds, UTC)
        if kind == "Time":
            return clock.format_time(when)
        return clock.format_micro_time(when.replace(microsecond=value.nanos // 1000))
    if kind in ("FieldsV1", "RawExtension"):
        raw = value.Raw if kind == "FieldsV1" else value.raw
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise ProtobufError(f"{f.json} does not hold JSON: {exc}") from exc
    raise ProtobufError(f"{f.json}: protobuf type {kind} is not supported")


# -- JSON → protobuf --------------------------------------------------------------------------------

def encode_object(doc: dict[str, Any]) -> bytes:
    """The Kubernetes protobuf body of a JSON document (its kind must be a schema root)."""
    c = codec()
    kind = doc.get("kind")
    root = c.root(str(doc.get("apiVersion") or ""), kind) if isinstance(kind, str) else None
    if root is None:
        raise ProtobufError(f"no protobuf message for kind {kind!r}")
    message = c.classes[root]()
    try:
        from_json(message, c.specs[root], {k: v for k, v in doc.items() if k not in ("kind", "apiVersion")}, "")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a value of the wrong JSON type
        raise ProtobufError(f"{kind} cannot be encoded: {exc}") from exc
    envelope = c.classes["Unknown"]()
    envelope.typeMeta.apiVersion = doc.get("apiVersion") or ""
    envelope.typeMeta.kind = kind
    envelope.raw = message.SerializeToString()
    return MAGIC + bytes(envelope.SerializeToString())


def from_json(message: Message, spec: MessageSpec, doc: dict[str, Any], path: str) -> None:
    message.SetInParent()
    for name, value in doc.items():
        where = f"{path}.{name}" if path else name
        if value is None:
            continue
        target, f = _field_of(message, spec, name)
        if f is None:
            raise ProtobufError(f"{where}: no protobuf field")
        _set(target, f, value, where)


def _field_of(message: Message, spec: MessageSpec, name: str) -> tuple[Message, Field | None]:
    """The message and field that carry JSON member ``name``: its own, or one of an embedded struct
    (at any depth), whose messages are then marked present."""
    if name in spec.fields:
        return message, spec.fields[name]
    for group in spec.fields.values():
        if group.inline is None:
            continue
        inner = getattr(message, f"inline{group.number}")
        target, f = _field_of(inner, group.inline, name)
        if f is not None:
            inner.SetInParent()
            target.SetInParent()
            return target, f
    return message, None


def _set(message: Message, f: Field, value: Any, where: str) -> None:
    if f.shape == "[]":
        container = getattr(message, f.json)
        for i, item in enumerate(value):
            if f.value in _SCALARS:
                container.append(_scalar(f, item))
            else:
                _fill(container.add(), f, item, f"{where}[{i}]")
        return
    if f.shape == "{}":
        container = getattr(message, f.json)
        for key, item in value.items():
            if f.value in _SCALARS:
                container[key] = _scalar(f, item)
            else:
                _fill(container[key], f, item, f"{where}[{key}]")
        return
    if f.value in _SCALARS:
        setattr(message, f.json, _scalar(f, value))
    else:
        _fill(getattr(message, f.json), f, value, where)


def _scalar(f: Field, value: Any) -> Any:
    return base64.b64decode(value) if f.value == "bytes" else value


def _fill(message: Message, f: Field, value: Any, where: str) -> None:
    kind = f.value
    message.SetInParent()
    if kind == "":
        from_json(message, codec().specs[f.message], value, where)
    elif kind == "Quantity":
        message.string = str(value)
    elif kind == "IntOrString":
        if isinstance(value, str):
            message.type, message.strVal = 1, value
        else:
            message.type, message.intVal = 0, value
    elif kind in ("Time", "MicroTime"):
        when = clock.parse_time(str(value))
        # whole seconds apart: a float timestamp with microseconds rounds up past the second far from 1970
        message.seconds = int(when.replace(microsecond=0).timestamp())
        if kind == "MicroTime":
            message.nanos = when.microsecond * 1000
    elif kind == "FieldsV1":
        message.Raw = json.dumps(value, separators=(",", ":")).encode()
    elif kind == "RawExtension":
        message.raw = json.dumps(value, separators=(",", ":")).encode()
    else:
        raise ProtobufError(f"{where}: protobuf type {kind} is not supported")
