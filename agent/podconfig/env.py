"""A container's environment, command and args as the kubelet computes them (pure).

Kubernetes source: ``pkg/kubelet/kubelet_pods.go`` (``makeEnvironmentVariables``) and
``third_party/forked/golang/expansion`` (``$(VAR)`` expansion). Order: every ``envFrom`` source
in turn (a later source overrides an earlier key), then ``env`` entries in order, each value
expanded against the variables defined before it. ``command``/``args`` are expanded against the
final environment. A missing, non-optional ConfigMap/Secret (or key) raises :class:`ConfigError`
with the kubelet's message; the container then waits with reason ``CreateContainerConfigError``.
Service link variables (``enableServiceLinks``) are made apart, by :mod:`agent.service_env`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.core import Container, Pod

from agent.podconfig.fieldpath import FieldPathError, PodRuntimeFacts, field_value, resource_value

CONFIG_ERROR = "CreateContainerConfigError"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # validation.IsEnvVarName

Lookup = Callable[[str, str], Mapping[str, Any] | None]
"""(namespace, name) → the object's document (``data``, ``binaryData``...), or None when absent."""


class ConfigError(Exception):
    """A source the container needs is missing (kubelet: CreateContainerConfigError)."""


@dataclass(frozen=True)
class Sources:
    config_map: Lookup
    secret: Lookup


@dataclass
class ResolvedEnv:
    env: dict[str, str]
    command: list[str] | None
    args: list[str] | None
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (Event reason, message)


def needs_pod_ip(container: Container) -> bool:
    """Whether the container's env reads ``status.podIP(s)``: its config needs the started sandbox's IP."""
    return any(e.value_from and e.value_from.field_ref and e.value_from.field_ref.field_path.startswith("status.podIP")
               for e in container.env or [])


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """``$(VAR)`` → its value when defined, else left as written; ``$$`` → ``$``."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "$" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2:close]
                value = lookup(name)
                out.append(value if value is not None else f"$({name})")
                i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def secret_values(doc: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's ``data`` decoded (``stringData`` is folded in by the API server; kept here as a fallback)."""
    values = {k: base64.b64decode(v or "") for k, v in (doc.get("data") or {}).items()}
    for k, v in (doc.get("stringData") or {}).items():
        values[k] = str(v).encode()
    return values


def config_map_values(doc: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (doc.get("data") or {}).items()}


def resolve(pod: Pod, container: Container, sources: Sources, facts: PodRuntimeFacts) -> ResolvedEnv:
    """The environment and expanded command/args of ``container``; ConfigError when a source is missing."""
    namespace = pod.namespace or "default"
    env: dict[str, str] = {}
    warnings: list[tuple[str, str]] = []
    for source in container.env_from or []:
        prefix = source.prefix or ""
        if source.config_map_ref is not None:
            kind, name, optional = "configMap", source.config_map_ref.name or "", bool(source.config_map_ref.optional)
            doc = sources.config_map(namespace, name)
            if doc is None:
                if optional:
                    continue
                raise ConfigError(f'configmap "{name}" not found')
            values: dict[str, str] = config_map_values(doc)
        elif source.secret_ref is not None:
            kind, name, optional = "secret", source.secret_ref.name or "", bool(source.secret_ref.optional)
            doc = sources.secret(namespace, name)
            if doc is None:
                if optional:
                    continue
                raise ConfigError(f'secret "{name}" not found')
            values = {k: v.decode(errors="replace") for k, v in secret_values(doc).items()}
        else:
            continue
        invalid = []
        for key, value in values.items():
            if not _ENV_NAME.match(prefix + key):
                invalid.append(prefix + key)
                continue
            env[prefix + key] = value
        if invalid:
            warnings.append(("InvalidEnvironmentVariableNames",
                             f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {kind} {namespace}/{name} "
                             "were skipped since they are considered invalid environment variable names."))
    for var in container.env or []:
        resolved = _env_value(pod, container, var, env, sources, facts, namespace)
        if resolved is not None:
            env[var.name] = resolved

    def lookup(name: str) -> str | None:
        return env.get(name)

    command = [expand(part, lookup) for part in container.command] if container.command is not None else None
    args = [expand(part, lookup) for part in container.args] if container.args is not None else None
    return ResolvedEnv(env=env, command=command, args=args, warnings=warnings)


def _env_value(pod: Pod, container: Container, var: Any, env: dict[str, str], sources: Sources,
               facts: PodRuntimeFacts, namespace: str) -> str | None:
    """One ``env`` entry's value; None when an optional source is missing (the variable is not set)."""
    source = var.value_from
    if source is None:
        return expand(var.value or "", env.get)
    try:
        if source.field_ref is not None:
            return field_value(pod, source.field_ref, facts)
        if source.resource_field_ref is not None:
            return resource_value(pod, container, source.resource_field_ref, facts)
    except FieldPathError as exc:
        raise ConfigError(str(exc)) from exc
    if source.config_map_key_ref is not None:
        ref = source.config_map_key_ref
        doc = sources.config_map(namespace, ref.name or "")
        if doc is None:
            if ref.optional:
                return None
            raise ConfigError(f'configmap "{ref.name}" not found')
        data = config_map_values(doc)
        if ref.key not in data:
            if ref.optional:
                return None
            raise ConfigError(f"couldn't find key {ref.key} in ConfigMap {namespace}/{ref.name}")
        return data[ref.key]
    if source.secret_key_ref is not None:
        sref = source.secret_key_ref
        doc = sources.secret(namespace, sref.name or "")
        if doc is None:
            if sref.optional:
                return None
            raise ConfigError(f'secret "{sref.name}" not found')
        secret = secret_values(doc)
        if sref.key not in secret:
            if sref.optional:
                return None
            raise ConfigError(f"couldn't find key {sref.key} in Secret {namespace}/{sref.name}")
        return secret[sref.key].decode(errors="replace")
    return expand(var.value or "", env.get)
