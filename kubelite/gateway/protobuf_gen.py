"""Regenerate ``k8s_proto.json``: protobuf field numbers for the types in ``k8s_schema.json``.

Facts only, read from the Kubernetes sources (a dev-time step, like
:mod:`kubelite.api.schema_gen`): field numbers and protobuf types from the
published ``generated.proto`` files of k8s.io/api and k8s.io/apimachinery, and
from the Go struct tags in their ``types.go`` the two things a ``.proto`` file
does not say — which Go field is embedded (inline in JSON, a nested message on
the wire: ``Probe.handler``, ``Volume.volumeSource``) and whether Go's JSON
encoder writes a zero scalar (a pointer, or a tag without ``omitempty``).

Usage, with checkouts or bare clones of both repositories::

    python -m kubelite.gateway.protobuf_gen /path/to/kubernetes/api /path/to/kubernetes/apimachinery

The output maps each schema type to ``{jsonField: [[number, ...], protoType, keepZero]}``;
a path of two numbers is a field inside an embedded message. ``protoType`` is a
protobuf scalar (``string``, ``int32``, ``int64``, ``bool``, ``bytes``, ``double``),
one of the special apimachinery types (``Quantity``, ``IntOrString``, ``Time``,
``MicroTime``, ``Duration``, ``RawExtension``, ``FieldsV1``) or ``""`` for a
message whose type the schema names.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelite.api.schema import k8s_schema

OUTPUT = Path(__file__).with_name("k8s_proto.json")
API_PACKAGES = ("core/v1", "apps/v1", "coordination/v1", "policy/v1", "autoscaling/v1", "batch/v1", "rbac/v1",
                "networking/v1", "storage/v1", "scheduling/v1", "discovery/v1", "autoscaling/v2",
                "authorization/v1", "authentication/v1", "admissionregistration/v1", "certificates/v1", "events/v1")
MACHINERY_PACKAGES = ("pkg/apis/meta/v1",)
# apimachinery message → the name the runtime module knows it by
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "FieldsV1",
}
SPECIAL_FILES = {  # where each special message and the envelope are defined
    "pkg/api/resource/generated.proto": ("Quantity",),
    "pkg/util/intstr/generated.proto": ("IntOrString",),
    "pkg/apis/meta/v1/generated.proto": ("Time", "MicroTime", "Duration", "FieldsV1"),
    "pkg/runtime/generated.proto": ("RawExtension", "Unknown", "TypeMeta"),
}
# k8s.io/kube-aggregator's apiregistration.k8s.io types: not in k8s.io/api, so not read; their clients
# (kubectl apply, the Python client) send JSON, and a protobuf body of them is refused as unknown
OTHER_REPOS = re.compile(r"^V1APIService")
# names in two packages: the one the OpenAPI schema (and so k8s_schema.json) means
HOME_OF = {"Preconditions": "pkg/apis/meta/v1"}
_FIELD = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;|^\s*map<\s*string\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")
_GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?(\*?)([\w.\[\]*]+)\s+`([^`]*)`")


@dataclass
class ProtoField:
    name: str
    number: int
    type: str
    repeated: bool
    map_value: bool


@dataclass
class GoField:
    json: str
    omitempty: bool
    pointer: bool
    embedded: str | None  # the embedded type's name when inline


def _show(repo: Path, path: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True, capture_output=True,
                          text=True).stdout


def _commit(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def parse_proto(text: str) -> tuple[str, dict[str, list[ProtoField]]]:
    """(package, {message: fields}) of a go-to-protobuf file (top-level messages only, as it writes them)."""
    package = re.search(r"^package\s+([\w.]+);", text, re.M)
    messages: dict[str, list[ProtoField]] = {}
    current: list[ProtoField] | None = None
    for line in text.splitlines():
        line = line.split("//")[0]
        if match := re.match(r"^message\s+(\w+)\s*{", line):
            current = messages.setdefault(match.group(1), [])
        elif line.startswith("}"):
            current = None
        elif current is not None and (match := _FIELD.match(line)):
            if match.group(1):
                current.append(ProtoField(match.group(3), int(match.group(4)), match.group(2).lstrip("."),
                                          match.group(1) == "repeated", False))
            else:
                current.append(ProtoField(match.group(6), int(match.group(7)), match.group(5).lstrip("."), False, True))
    return (package.group(1) if package else ""), messages


def parse_go_structs(text: str) -> dict[str, dict[str, GoField]]:
    """{struct: {protobuf field name: GoField}} from Go sources with protobuf struct tags."""
    structs: dict[str, dict[str, GoField]] = {}
    current: dict[str, GoField] | None = None
    for line in text.splitlines():
        if match := re.match(r"^type\s+(\w+)\s+struct\s*{", line):
            current = structs.setdefault(match.group(1), {})
        elif line.startswith("}"):
            current = None
        elif current is not None and (match := _GO_FIELD.match(line)):
            tags = match.group(4)
            proto = re.search(r'protobuf:"([^"]*)"', tags)
            json_tag = re.search(r'json:"([^"]*)"', tags)
            if not proto or json_tag is None:
                continue
            json_name, *options = json_tag.group(1).split(",")
            embedded = match.group(1) is None and json_name == ""
            named = re.search(r"name=(\w+)", proto.group(1))
            type_name = match.group(3).split(".")[-1]
            # an embedded field's tag may omit name=; go-to-protobuf then names it after the type
            proto_name = named.group(1) if named else type_name[:1].lower() + type_name[1:]
            current[proto_name] = GoField(
                json=json_name, omitempty="omitempty" in options, pointer=match.group(2) == "*",
                embedded=type_name if embedded else None,
            )
    return structs


SCALARS = frozenset({"string", "int32", "int64", "bool", "bytes", "double", "float"})


def _value_type(type_name: str) -> str:
    if type_name in SPECIAL:
        return SPECIAL[type_name]
    if f"k8s.io.apimachinery.pkg.apis.meta.v1.{type_name}" in SPECIAL:  # Time inside meta/v1 itself
        return type_name
    return type_name if type_name in SCALARS else ""  # "": another message, the schema names it


def _entries(message: str, messages: dict[str, list[ProtoField]], structs: dict[str, dict[str, GoField]],
             prefix: tuple[int, ...] = ()) -> dict[str, list[Any]]:
    entries: dict[str, list[Any]] = {}
    go = structs.get(message, {})
    for f in messages[message]:
        tag = go.get(f.name)
        if tag is not None and tag.embedded:
            entries.update(_entries(f.type.split(".")[-1], messages, structs, (*prefix, f.number)))
            continue
        json_name = tag.json if tag is not None and tag.json not in ("", "-") else f.name
        value = _value_type(f.type)
        # Go's JSON writes a zero scalar for a pointer or a tag without omitempty; the wire cannot say which
        keep = bool(tag and value in SCALARS and (tag.pointer or not tag.omitempty))
        shape = "[]" if f.repeated else "{}" if f.map_value else ""
        entries[json_name] = [[*prefix, f.number], value, int(keep), shape]
    return entries


# the Python client's group prefix of a name two packages share → the package it means
_PREFIX_HOME = {"CoreV1": "core/v1", "DiscoveryV1": "discovery/v1", "RbacV1": "rbac/v1",
                "AuthenticationV1": "authentication/v1", "AdmissionregistrationV1": "admissionregistration/v1",
                "EventsV1": "events/v1", "StorageV1": "storage/v1"}


def _short(python_name: str) -> str:
    return re.sub(r"^(CoreV1|DiscoveryV1|RbacV1|AuthenticationV1|AdmissionregistrationV1|EventsV1|StorageV1|V1|V2)", "",
                  python_name)


def generate(api: Path, machinery: Path) -> dict[str, Any]:
    packages: dict[str, tuple[dict[str, list[ProtoField]], dict[str, dict[str, GoField]]]] = {}
    sources = [(api, p) for p in API_PACKAGES] + [(machinery, p) for p in MACHINERY_PACKAGES]
    for repo, package in sources:
        _, found = parse_proto(_show(repo, f"{package}/generated.proto"))
        packages[package] = (found, parse_go_structs(_show(repo, f"{package}/types.go")))
    types: dict[str, dict[str, str]] = k8s_schema()["types"]
    out: dict[str, dict[str, list[Any]]] = {}
    for python_name, schema_fields in types.items():
        short = _short(python_name)
        prefix = python_name[: len(python_name) - len(short)]
        homes = ([HOME_OF[short]] if short in HOME_OF else [_PREFIX_HOME[prefix]] if prefix in _PREFIX_HOME
                 else [p for p, (found, _) in packages.items() if short in found])
        if OTHER_REPOS.match(python_name):
            print(f"note: {python_name} is not in k8s.io/api; not on the wire", file=sys.stderr)
            continue
        if len(homes) > 1 and prefix in ("V1", "V2"):  # a name autoscaling/v1 and v2 share: the prefix's version
            homes = [p for p in homes if p.endswith("/" + prefix.lower())]
        if not homes and not re.match(r"^(CoreV1|V1|V2)[A-Z]", python_name):
            # an alpha/beta type the client knows (V1alpha3...) that no served package has: never on the wire
            print(f"note: {python_name} is in no served package; not on the wire", file=sys.stderr)
            continue
        if len(homes) != 1:
            raise SystemExit(f"schema type {python_name}: protobuf message {short} is in {homes or 'no package'}")
        messages, structs = packages[homes[0]]
        entries = _entries(short, messages, structs)
        out[python_name] = {}
        for name, (path, value, keep, shape) in entries.items():
            if name not in schema_fields:
                continue
            wanted = schema_fields[name]
            if wanted == "{}[]string" and shape == "{}" and not value:
                # map<string, ExtraValue> (the reviews' user ``extra``): a wrapper message kubelite does not
                # model; left out, so such a field is dropped from protobuf bodies (kubelite reads no extra)
                print(f"note: {python_name}.{name} (map of ExtraValue) is not carried in protobuf", file=sys.stderr)
                continue
            if not wanted.startswith(shape) or wanted[2:3] in ("[", "{") or (not shape and wanted[:1] in ("[", "{")):
                if not (shape == "" and value == "bytes" and wanted == "string"):
                    raise SystemExit(f"{python_name}.{name}: schema {wanted!r} but protobuf {shape}{value or 'message'}")
            out[python_name][name] = [path, value, keep]
    special: dict[str, dict[str, list[Any]]] = {}
    for path, names in SPECIAL_FILES.items():
        _, found = parse_proto(_show(machinery, path))
        for name in names:
            special[name] = {f.name: [[f.number], _value_type(f.type) or f.type.split(".")[-1], 0] for f in found[name]}
    return {"sources": {"k8s.io/api": _commit(api), "k8s.io/apimachinery": _commit(machinery)},
            "special": special, "messages": out}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m kubelite.gateway.protobuf_gen API_REPO APIMACHINERY_REPO")
    table = generate(Path(sys.argv[1]), Path(sys.argv[2]))
    lines = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in table["messages"].items()]
    head = json.dumps({k: table[k] for k in ("sources", "special")}, separators=(",", ":"))[:-1]
    OUTPUT.write_text(head + ',"messages":{\n' + ",\n".join(lines) + "\n}}\n")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes, {len(lines)} messages)")
