"""Kubernetes object storage in etcd, with Kubernetes' semantics.

resourceVersion is the key's mod_revision; every write is one transaction
with its preconditions (absent / unchanged / leader fence), so nothing is
half-written and a stale writer fails instead of overwriting. Errors are
:class:`~kubelite.api.errors.ApiError` with the Status the gateway returns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, cast, overload

import typing_extensions

from kubelite.registry import limitranger, priority, sa_admission, storageclass, strategy
from kubelite.storage import codec
from kubelite.storage.binding import bound_document
from kubelite.api import crd, errors, names
from kubelite.api.core import Event, Namespace, Pod, PodStatus
from kubelite.api.meta import KubeObject
from kubelite.api.resources import (
    CUSTOMRESOURCEDEFINITIONS,
    EVENTS,
    LIMITRANGES,
    NAMESPACES,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    PRIORITYCLASSES,
    RESOURCEQUOTAS,
    SERVICEACCOUNTS,
    SERVICES,
    STORAGECLASSES,
    Resource,
)
from kubelite.api.semantic import part_equal
from kubelite.api.validation import validate_for_storage
from kubelite.etcd.encryption import DecryptError, Encryption, from_storage, to_storage
from kubelite.registry.service_alloc import RANDOM_TRIES, ServiceAllocator, held_keys
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import (
    EtcdCompacted,
    cmp_create,
    cmp_mod,
    cmp_version,
    op_delete,
    op_get,
    op_put,
    prefix_end,
    range_,
    txn,
)
from kubelite.storage.nodewritten import keyed_document, written_by_node
from kubelite.storage.pointreads import PointReads
from kubelite.storage.sharedreads import SharedReads
from kubelite.storage.quotas import Charge, QuotaAdmission, QuotaChanged, QuotaRead
from kubelite.util.clock import Deadline, monotonic, now_seconds

T = TypeVar("T", bound=KubeObject)
log = logging.getLogger(__name__)

# etcd rejects requests over 1.5 MiB; keep room for the key and the txn envelope.
MAX_OBJECT_BYTES = 1_500_000
SA_ADMISSION_WAIT = 2.0  # seconds a pod create waits for its namespace's ``default`` ServiceAccount
ADMISSION_CACHE_SECONDS = 1.0  # how long admission reuses the PriorityClasses/StorageClasses it read
_GUARANTEED_UPDATE_TRIES = 16

_LIST_EXPIRED = "The resourceVersion for the provided list is too old."
_CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. "
                     "You can start a new list without the continue parameter.")

Clock = Callable[[], datetime]
Subresource = Literal["status", "finalize", "approval"] | None


# What a shared txn (bind_batch, create_events) may carry in values: under etcd's default
# --max-request-bytes (1.5 MiB), with room for the keys and the compares
TXN_BYTES = 1 << 20


@dataclass(frozen=True)
class Fence:
    """A leader's write guard: the election key must still have this create_revision."""

    key: str
    create_revision: int

    def compare(self) -> Any:
        return cmp_create(self.key, "==", self.create_revision)


class _Taken(Exception):
    """Allocation keys (service IPs, node ports) another object holds: the write claimed them in vain."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__(sorted(keys))
        self.keys = keys


class NotLeader(errors.ApiError):
    """The fence failed: this process lost leadership and must stop writing (409, "fenced: not the leader").

    Distinct from a Conflict on the object: retrying cannot help, and logs say "fenced".
    """


# a list's items: the resource's model objects, or (as_documents / as_json) dicts or bytes
I = typing_extensions.TypeVar("I", default=Any)


@dataclass
class ListResult(Generic[I]):
    items: list[I]
    resource_version: str
    continue_token: str | None = None


def strict_fields() -> bool:
    """``KUBELITE_STRICT_FIELDS=1`` (the test suite sets it): refuse fields Kubernetes lacks instead of dropping them."""
    return os.environ.get("KUBELITE_STRICT_FIELDS", "") not in ("", "0")


def encode(obj: KubeObject, *, validate: bool = True, old: KubeObject | None = None) -> bytes:
    """The stored JSON of ``obj``: every writer's objects pass :func:`validate_for_storage` here.

    Raises ApiError 422 for an object kube-apiserver would refuse (values its
    decoder refuses, semantic rules, and in strict mode unknown fields).
    ``validate=False`` only for the store's own deletion marks, which change
    nothing but metadata the store sets (kube does not validate them either).
    ``old``: the stored object an update replaces (its own problems are not refused again).
    """
    doc = obj.to_dict()
    doc.get("metadata", {}).pop("resourceVersion", None)
    if validate:
        doc, dropped = validate_for_storage(obj, doc, strict_fields=strict_fields(), old=old)
        if dropped:
            log.warning("%s %s/%s: dropped fields Kubernetes does not have: %s", obj.kind, obj.namespace or "",
                        obj.name, ", ".join(dropped))
    return codec.dumps(doc)


def client_encryption(client: Any) -> Encryption | None:
    """The encryption at rest a process configured for its etcd client (``--encryption-provider-config``)."""
    return getattr(getattr(client, "config", None), "encryption", None)


def plaintext(res: Resource, value: bytes, encryption: Encryption | None) -> bytes:
    """The stored JSON of a value read from etcd: every reader's one way through encryption at rest.

    A value that cannot be decrypted is a 500 (as kube-apiserver answers), never a guess.
    """
    if encryption is None and value[:1] == b"{":
        return value
    try:
        return from_storage(encryption, res.plural, res.group, value)[0]
    except DecryptError as exc:
        raise errors.internal(str(exc)) from None


def decode(res: Resource[T], value: bytes, mod_revision: int, encryption: Encryption | None = None, *,
           key: bytes | None = None) -> T:
    """The object stored as ``value`` (read from ``key``: a node-written key's value is not trusted
    for its identity, :mod:`kubelite.storage.nodewritten`)."""
    if key is not None and written_by_node(key):
        try:
            obj = res.model.model_validate(keyed_document(res, key, lambda: codec.loads(
                plaintext(res, value, encryption))))
        except ValueError:  # pydantic's ValidationError: the node wrote a malformed object
            obj = res.model.model_validate(keyed_document(res, key, None))
        obj.metadata.resource_version = str(mod_revision)
        return obj
    if res.conversion is None and not res.custom:
        # pydantic parses the JSON itself: the same object as loads + model_validate for all the encoder
        # writes within JSON's and 64 bits' range, in four fifths of the time (bench/bench_decode.py),
        # with no intermediate dicts. Beyond that range (only codec.dumps' stdlib fallback writes it),
        # an integer is kept exactly where orjson made it a float or refused it.
        obj = res.model.model_validate_json(plaintext(res, value, encryption))
        obj.metadata.resource_version = str(mod_revision)
        return obj
    doc = codec.loads(plaintext(res, value, encryption))
    obj = res.model.model_validate(res.conversion.to_served(doc) if res.conversion else doc)
    obj.metadata.resource_version = str(mod_revision)
    if res.custom:  # served in every version of its CRD: the None conversion rewrites apiVersion
        obj.api_version = res.api_version
    return obj


# What codec.dumps of any stored object starts with: the head before metadata's members
_HEAD = re.compile(rb'\{"apiVersion":"[^"\\]*","kind":"[^"\\]*","metadata":\{')


def document_bytes(res: Resource, value: bytes, mod_revision: int,
                   encryption: Encryption | None = None, *, key: bytes | None = None) -> bytes:
    """The stored JSON with its resourceVersion, as :func:`codec.dumps` of :func:`decode_document`.

    Objects are stored as apiVersion, kind, metadata first and without a resourceVersion, so it
    is spliced in as metadata's first member without parsing the rest (kube-apiserver caches
    serialised objects for the same reason). A value of any other shape is parsed and re-encoded.
    """
    if key is not None and written_by_node(key):
        # a node's own writes are served as the model admits them (a malformed one as its bare
        # identity), as a GET of the object always did; they are few (Nodes, node Leases)
        return codec.dumps(decode(res, value, mod_revision, encryption, key=key).to_dict())
    value = plaintext(res, value, encryption)
    match = _HEAD.match(value)
    if match is None or res.custom or res.conversion:
        return codec.dumps(decode_document(res, value, mod_revision))
    return _splice(value, match.end(), mod_revision)


def document_renderer(res: Resource, encryption: Encryption | None) -> Callable[[bytes | None, bytes, int], bytes]:
    """:func:`document_bytes` for many values of one resource: ``render(key, value, mod_revision)``.

    The head every value of ``res`` the store wrote starts with is built once, so the common
    value costs one ``startswith`` and one join (a LIST of 1,000 pods spent a third of its time
    on a regular expression and calls per item); any other value takes :func:`document_bytes`.
    """
    if encryption is not None or res.custom or res.conversion:
        return lambda key, value, mod_revision: document_bytes(res, value, mod_revision, encryption, key=key)
    head = b'{"apiVersion":"%s","kind":"%s","metadata":{' % (res.api_version.encode(), res.kind.encode())
    cut = len(head)

    def render(key: bytes | None, value: bytes, mod_revision: int) -> bytes:
        if value.startswith(head) and not (key is not None and written_by_node(key)):
            return _splice(value, cut, mod_revision)
        return document_bytes(res, value, mod_revision, encryption, key=key)

    return render


def _splice(value: bytes, end: int, mod_revision: int) -> bytes:
    """``value`` with ``"resourceVersion":"N"`` as metadata's first member (metadata opens at ``end``)."""
    return b'%s"resourceVersion":"%d"%s%s' % (
        value[:end], mod_revision, b"" if value[end:end + 1] == b"}" else b",", value[end:])


def decode_document(res: Resource, value: bytes, mod_revision: int,
                    encryption: Encryption | None = None, *, key: bytes | None = None) -> dict[str, Any]:
    """The stored JSON as a plain document with its resourceVersion (no model: for serialising only)."""
    if key is not None and written_by_node(key):
        keyed = keyed_document(res, key, lambda: codec.loads(plaintext(res, value, encryption)))
        keyed["metadata"]["resourceVersion"] = str(mod_revision)
        return keyed
    doc: dict[str, Any] = codec.loads(plaintext(res, value, encryption))
    if res.conversion:
        doc = res.conversion.to_served(doc)
    doc.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
    if res.custom:
        doc["apiVersion"] = res.api_version
    return doc


_NOT_SPEC = frozenset({"metadata", "status", "apiVersion", "kind"})  # what does not count for `generation`


def _changed_parts(kind: str, before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The top-level parts (spec, status, metadata...) that differ semantically; only parts whose raw
    JSON differs are normalised, so a status write does not pay for normalising the spec."""
    raw = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    return {key for key in raw if not part_equal(kind, key, before.get(key), after.get(key))}


def _unversioned(obj: KubeObject) -> dict[str, Any]:
    doc = obj.to_dict()
    doc.get("metadata", {}).pop("resourceVersion", None)
    return doc


class Store:
    """CRUD, list and conditional writes of typed objects; watches live in :mod:`kubelite.storage.watch`."""

    # Whether an Event written here needs the writer's TTL lease (kube's --event-ttl); a store whose
    # writes go through the gateway says False: the gateway puts every Event on its own.
    events_need_ttl_lease = True

    def __init__(self, client: EtcdClient, *, clock: Clock = now_seconds,
                 admission: strategy.Admission | None = None, services: ServiceAllocator | None = None) -> None:
        self.client = client
        self.encryption = client_encryption(client)
        self.clock = clock
        self.admission = admission or strategy.Admission()
        self.services = services or ServiceAllocator()  # ClusterIPs and NodePorts, claimed in the Service's txn
        # namespace → mod_revision at which it was seen open (not Terminating). Creates compare
        # against it in their txn, so a stale entry only costs a retry, never a wrong create.
        self._open_namespaces: dict[str, int] = {}
        # The kinds admission reads whole (PriorityClasses, LimitRanges, StorageClasses…), by plural. Kept
        # ADMISSION_CACHE_SECONDS, as kube's admission plugins read them through an informer (a moment
        # behind), and shared while in flight; a write of that kind through this store drops it at once.
        self._admission_reads: SharedReads[str, builtins.list[dict[str, Any]]] = SharedReads(ADMISSION_CACHE_SECONDS)
        # ServiceAccounts the admission found: (namespace, name) -> (monotonic read time, document). The
        # same ADMISSION_CACHE_SECONDS (kube's plugin reads them through an informer, and looks again live
        # only when the informer has none), so a Deployment's thousand pods are not a thousand etcd reads.
        self._accounts: dict[tuple[str | None, str], tuple[float, dict[str, Any]]] = {}
        # ResourceQuota admission's reads (cached as the LimitRanges are) and charges: kubelite.storage.quotas
        self.quotas = QuotaAdmission(self._quota_documents, lambda key, data: self._stored_bytes(RESOURCEQUOTAS, key, data),
                                     clock, cache_seconds=ADMISSION_CACHE_SECONDS)
        self.point_reads = PointReads(client)
        self.event_writer: Any = None  # kubelite.client.events.EventWriter: the process's Events, made on first use

    def prepare(self, res: Resource, current: T | None, new: T) -> T:
        """What the store would write for ``new`` (create when ``current`` is None): the
        kind's strategy and admission. Writers that check a new object before writing
        (the gateway's immutable fields) compare this."""
        if current is None:
            return strategy.prepare_for_create(new, self.admission)
        return strategy.prepare_for_update(current, new, self.admission, subresource=None)

    # -- reads ---------------------------------------------------------------

    async def get(self, res: Resource[T], name: str, namespace: str | None = None) -> T:
        """The object, read linearizably (coalesced with concurrent gets: :mod:`kubelite.storage.pointreads`)."""
        kv = await self._stored_kv(res, name, namespace)
        return decode(res, kv.value, kv.mod_revision, self.encryption, key=kv.key)

    async def get_json(self, res: Resource, name: str, namespace: str | None = None) -> bytes:
        """:meth:`get`'s object as JSON bytes with its resourceVersion, for a reader that only serialises
        it (:func:`document_bytes`: the stored bytes, nothing parsed, as a LIST ``as_json``)."""
        kv = await self._stored_kv(res, name, namespace)
        return document_bytes(res, kv.value, kv.mod_revision, self.encryption, key=kv.key)

    async def _stored_kv(self, res: Resource, name: str, namespace: str | None) -> Any:
        """The object's etcd KV (``value``, ``mod_revision``, ``key``), read linearizably; 404 if none."""
        kv = await self.point_reads.get(res.key(name, namespace))
        if kv is None:
            raise errors.not_found(res.plural, name, group=res.group)
        return kv

    @overload
    async def list(
        self, res: Resource[T], namespace: str | None = None, *, predicate: Callable[[Any], bool] | None = None,
        limit: int = 0, continue_token: str | None = None, resource_version: int = 0,
        raw_filter: Callable[[bytes], bool] | None = None, as_documents: Literal[False] = False,
        as_json: Literal[False] = False,
    ) -> ListResult[T]: ...

    @overload
    async def list(
        self, res: Resource, namespace: str | None = None, *, predicate: Callable[[Any], bool] | None = None,
        limit: int = 0, continue_token: str | None = None, resource_version: int = 0,
        raw_filter: Callable[[bytes], bool] | None = None, as_documents: bool = False, as_json: bool = False,
    ) -> ListResult[Any]: ...

    async def list(
        self, res: Resource, namespace: str | None = None, *, predicate: Callable[[Any], bool] | None = None,
        limit: int = 0, continue_token: str | None = None, resource_version: int = 0,
        raw_filter: Callable[[bytes], bool] | None = None, as_documents: bool = False, as_json: bool = False,
    ) -> ListResult[Any]:
        """A consistent list: every page reads at the revision of the first one.

        ``predicate`` filters (label/field selectors) before ``limit`` counts, as
        the Kubernetes API server does; ``raw_filter`` skips stored JSON before
        it is decoded. ``as_documents`` gives plain JSON dicts instead of models
        (the gateway only serialises them; much faster for big lists); ``as_json`` gives each
        object's JSON bytes (:func:`document_bytes`; with no ``predicate``: nothing is parsed).
        """
        prefix = res.prefix(namespace)
        end = prefix_end(prefix)
        start: bytes = prefix.encode()
        revision = resource_version
        if continue_token:
            revision, start = _decode_continue(continue_token, prefix)
        items: list[Any] = []
        while True:
            page_limit = limit - len(items) + 1 if limit else 0
            try:
                response = await range_(
                    self.client, start, range_end=end, limit=page_limit, revision=revision, what=f"list {prefix}"
                )
            except EtcdCompacted as exc:  # kube-apiserver's words (storage/etcd3/store.go)
                raise errors.gone(_CONTINUE_EXPIRED if continue_token else _LIST_EXPIRED) from exc
            revision = revision or response.header.revision
            kvs = list(response.kvs)
            render = document_renderer(res, self.encryption) if as_json else None
            for index, kv in enumerate(kvs):
                if raw_filter is not None and not raw_filter(kv.value):
                    continue
                if render is not None:
                    obj: Any = render(kv.key, kv.value, kv.mod_revision)
                elif as_documents:
                    obj = decode_document(res, kv.value, kv.mod_revision, self.encryption, key=kv.key)
                else:
                    obj = decode(res, kv.value, kv.mod_revision, self.encryption, key=kv.key)
                if predicate is not None and not predicate(obj):
                    continue
                items.append(obj)
                if limit and len(items) == limit:
                    more = index < len(kvs) - 1 or response.more
                    token = _encode_continue(revision, kv.key + b"\x00") if more else None
                    return ListResult(items, str(revision), token)
            if not response.more or not kvs:
                return ListResult(items, str(revision))
            start = kvs[-1].key + b"\x00"

    # -- writes --------------------------------------------------------------

    async def create(
        self, res: Resource[T], obj: T, *, lease: int = 0, fence: Fence | None = None, dry_run: bool = False
    ) -> T:
        """Create if absent (409 AlreadyExists otherwise); the namespace must exist."""
        self._forget_admission_reads(res, obj.metadata.namespace)
        meta = obj.metadata
        new = self._new_object(res, obj)
        if isinstance(new, Pod):
            # LimitRanger admission (its defaults, then its constraints: 403) on the pod as decoded with
            # SetDefaults_Pod, before PrepareForCreate computes the QoS class from what it admitted
            new = cast(T, limitranger.admit_pod(strategy.default_pod(new, in_place=True),
                                                await self._limit_ranges(new.metadata.namespace)))
        # ``new`` is this create's own copy (from here on, each step's result is): admission changes it in place
        new = strategy.prepare_for_create(new, self.admission, in_place=True)
        if isinstance(new, Pod):  # Priority admission: it reads the PriorityClasses
            pod = priority.admit(new, await self._priority_classes())
            if self.admission.service_account:  # ServiceAccount admission: it reads the pod's account
                pod = sa_admission.admit(pod, await self._service_account(pod), in_place=True)
            new = cast(T, pod)
        elif res is PERSISTENTVOLUMECLAIMS:  # DefaultStorageClass admission, then LimitRanger's
            classed = storageclass.with_default_class(new.to_dict(), await self._documents(STORAGECLASSES))
            new = type(new).model_validate(classed) if classed is not None else new
            limitranger.validate_claim(new.to_dict(), await self._limit_ranges(new.metadata.namespace))
        elif res is CUSTOMRESOURCEDEFINITIONS:
            new = await self._crd_names(new, None)
        tries = 8 if not meta.name else 1
        for _ in range(tries):
            if not meta.name:
                new.metadata.name = (meta.generate_name or "") + names.random_suffix()
            created = await self._create_allocating(res, new, lease=lease, fence=fence, dry_run=dry_run,
                                                    generated=not meta.name)
            if created is not None:
                return created
        raise errors.already_exists(res.plural, new.name, group=res.group)

    def _new_object(self, res: Resource[T], obj: T, *, copy: bool = True) -> T:
        """A copy of ``obj`` as a create stores it: identity and timestamps are the store's (400 without
        a namespace for a namespaced kind, 422 without a name or generateName). ``copy=False``: ``obj``
        itself, changed in place (a caller that hands its object over)."""
        meta = obj.metadata
        if res.namespaced and not meta.namespace:
            raise errors.bad_request(f"{res.kind} {meta.name or meta.generate_name!r}: metadata.namespace is required")
        if not res.namespaced:
            meta.namespace = None
        if not meta.name and not meta.generate_name:
            raise errors.invalid(
                res.kind, "", [errors.field_invalid("metadata.name", "name or generateName is required", "FieldValueRequired")],
                group=res.group,
            )
        new = obj.deep_copy() if copy else obj
        new.metadata.uid = str(uuid.uuid4())
        new.metadata.creation_timestamp = self.clock()
        new.metadata.generation = 1
        new.metadata.resource_version = None
        new.metadata.deletion_timestamp = None
        new.metadata.deletion_grace_period_seconds = None
        new.api_version, new.kind = res.api_version, res.kind
        return new

    async def create_events(self, events: Sequence[Event], *, lease: int = 0) -> builtins.list[bool]:
        """Create several named Events in ONE etcd txn, each as :meth:`create` would (no admission plugin
        reads or charges an Event), on ``lease``: the recorders' writes of one moment share a txn (issue 12:
        a txn costs the writer about 0.3 ms of CPU whatever it carries). All or none: per Event, True when
        created, False when the caller must :meth:`create` it alone: the txn failed because one of them
        exists already (a repeat, whose count the caller bumps) or a namespace changed. Names must be
        distinct; invalid Events raise as :meth:`create` does, before anything is written.

        The Events are handed over, not copied (the recorder builds each for this call; the copy was
        a tenth of a sim agent's Event cost): their identity and timestamps are set in place. One
        that was not created can still be passed to :meth:`create`, which copies and sets them anew."""
        prepared = [strategy.prepare_for_create(self._new_object(EVENTS, event, copy=False), self.admission)
                    for event in events]
        if len({(e.metadata.namespace, e.metadata.name) for e in prepared}) != len(prepared):
            raise ValueError("create_events: the Events' names must be distinct")
        compare: builtins.list[Any] = []
        success: builtins.list[Any] = []
        namespaces: set[str] = set()
        size = 0
        for event in prepared:
            key = EVENTS.key_of(event)
            value = self._stored_value(EVENTS, event)
            size += len(value)
            if size > TXN_BYTES:  # etcd refuses a request over --max-request-bytes: each written alone
                return [False] * len(prepared)
            compare.append(cmp_version(key, "==", 0))
            success.append(op_put(key, value, lease))
            if event.metadata.namespace not in namespaces:
                namespaces.add(event.metadata.namespace or "")
                ns_key, ns_revision = await self._open_namespace(EVENTS, event)
                compare.append(cmp_mod(ns_key, "==", ns_revision))
        if not prepared:
            return []
        response = await txn(self.client, compare, success, [], what=f"create {len(prepared)} events")
        if not response.succeeded:
            for namespace in namespaces:  # one may have changed since it was seen open
                self._open_namespaces.pop(namespace, None)
            return [False] * len(prepared)
        return [True] * len(prepared)

    async def _create_allocating(
        self, res: Resource, new: T, *, lease: int, fence: Fence | None, dry_run: bool, generated: bool
    ) -> T | None:
        """Create; a Service first gets its clusterIP and nodePorts, claimed in the same txn (a picked
        address someone else holds is picked again; a requested one is a 422)."""
        if res is not SERVICES:  # the built-in kind, not a custom resource named Service
            return await self._create_once(res, new, lease=lease, fence=fence, dry_run=dry_run, generated=generated)
        avoid: set[str] = set()
        free_ips: list[str] | None = None
        free_ports: list[int] | None = None
        for attempt in range(2 * RANDOM_TRIES):
            if attempt == RANDOM_TRIES:
                free_ips, free_ports = await self.services.free(self.client)
            assignment = self.services.assign(new.to_dict(), None, avoid=avoid, free_ips=free_ips, free_ports=free_ports)
            candidate = type(new).model_validate(assignment.doc)
            try:
                return await self._create_once(res, candidate, lease=lease, fence=fence, dry_run=dry_run,
                                               generated=generated, claim=held_keys(assignment.doc))
            except _Taken as taken:
                refused = self.services.taken_error(new.name, assignment, taken.keys)
                if refused is not None:
                    raise refused from None
                avoid |= taken.keys
        raise errors.internal("failed to allocate the service's addresses: every pick was taken")

    async def _create_once(
        self, res: Resource, new: T, *, lease: int, fence: Fence | None, dry_run: bool, generated: bool,
        claim: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> T | None:
        key = res.key_of(new)
        value = self._stored_value(res, new)
        claimed = sorted(claim)
        fresh_quotas = False
        namespace = new.metadata.namespace or ""
        for _ in range(_GUARANTEED_UPDATE_TRIES):
            # ResourceQuota admission: refuses (403), or charges quotas in this very txn; in a namespace with
            # quotas, this process's charged writes take turns (kube's per-namespace quota worker), so they
            # do not fail each other's compares
            quotas, charges = await self._quota_charges(res, new, None, fresh=fresh_quotas)
            async with self.quotas.turn(namespace, bool(quotas)):
                if quotas:  # again, after the writes that went before this one
                    quotas, charges = await self._quota_charges(res, new, None, fresh=fresh_quotas)
                compare = [cmp_version(key, "==", 0), *(cmp_version(k, "==", 0) for k in claimed),
                           *(cmp_mod(q.key, "==", q.mod_revision) for q in quotas)]
                if res.namespaced:
                    # The namespace must exist and not be Terminating, unchanged until the put
                    # (NamespaceLifecycle admission, made atomic: nothing lands after the mark).
                    ns_key, ns_revision = await self._open_namespace(res, new)
                    compare.append(cmp_mod(ns_key, "==", ns_revision))
                _add_fence(compare, fence)
                owner = _owner_value(new)
                success: list[Any] = [] if dry_run else [
                    op_put(key, value, lease), *(op_put(k, owner) for k in claimed), *(op_put(c.key, c.value) for c in charges)]
                failure = [op_get(key), *(op_get(k) for k in claimed)]
                response = await txn(self.client, compare, success, failure, what=f"create {key}")
                if response.succeeded:
                    new.metadata.resource_version = str(response.header.revision)
                    if res is RESOURCEQUOTAS:  # this process's next admission reads it (the others within a second)
                        self.quotas.forget(namespace)
                    elif not dry_run:
                        self.quotas.written(namespace, charges, int(response.header.revision))
                    return new
            await self._raise_fenced(fence)
            if response.responses[0].response_range.kvs:
                if generated:
                    return None
                raise errors.already_exists(res.plural, new.name, group=res.group)
            _raise_taken(claimed, response.responses[1:])
            # the namespace or a charged quota changed since they were read: look at them again
            self._open_namespaces.pop(namespace, None)
            fresh_quotas = True
        raise errors.conflict("namespaces", new.metadata.namespace or "",
                              "changed during every create attempt (the namespace or its resource quotas)")

    async def _quota_charges(self, res: Resource, new: KubeObject, old: KubeObject | None, *,
                             fresh: bool) -> tuple[builtins.list[QuotaRead], builtins.list[Charge]]:
        """ResourceQuota admission of writing ``new`` over ``old`` (None: a create): (the namespace's
        quotas as read, which the write's txn compares, the charges it puts), or ApiError 403."""
        return await self.quotas.charges(res, new, old, fresh=fresh)

    async def _quota_documents(self, namespace: str) -> builtins.list[dict[str, Any]]:
        return list((await self.list(RESOURCEQUOTAS, namespace, as_documents=True)).items)

    async def _crd_names(self, new: T, current: KubeObject | None) -> T:
        """The names a CRD may have next to its group's other CRDs (kube's naming controller, applied on
        write; the CRDs are read as admission reads PriorityClasses)."""
        others = await self._documents(CUSTOMRESOURCEDEFINITIONS)
        settled = crd.settle_names(new.to_dict(), current.to_dict() if current is not None else None, others)
        return type(new).model_validate(settled)

    async def _service_account(self, pod: Pod) -> dict[str, Any] | None:
        """The ServiceAccount document the pod names, None when absent. ``default`` is looked for
        during SA_ADMISSION_WAIT, as kube's plugin does, since its controller creates it just after
        the namespace."""
        name = sa_admission.account_name(pod)
        if name is None:
            return None
        cached = self._accounts.get((pod.metadata.namespace, name))
        if cached is not None and monotonic() - cached[0] < ADMISSION_CACHE_SECONDS:
            return cached[1]
        deadline = Deadline(SA_ADMISSION_WAIT if name == sa_admission.DEFAULT_ACCOUNT else 0.0)
        while True:
            try:
                account = (await self.get(SERVICEACCOUNTS, name, pod.metadata.namespace)).to_dict()
                if len(self._accounts) >= 4096:  # bounded: namespaces come and go
                    self._accounts.clear()
                self._accounts[(pod.metadata.namespace, name)] = (monotonic(), account)
                return account
            except errors.ApiError as exc:
                if exc.code != 404 or deadline.expired():
                    if exc.code == 404:
                        return None
                    raise
            await asyncio.sleep(0.15)

    def _forget_admission_reads(self, res: Resource, namespace: str | None = None) -> None:
        """A write of ``res`` (in ``namespace``) through this store: admission reads it again at once."""
        self._admission_reads.forget(res.plural)
        if res is SERVICEACCOUNTS:
            self._accounts.clear()
        elif res is RESOURCEQUOTAS:  # that namespace's: a quota controller's status writes are frequent
            self.quotas.forget(namespace)

    async def _limit_ranges(self, namespace: str | None) -> builtins.list[dict[str, Any]]:
        """The LimitRange documents of ``namespace``, in name order (read as the PriorityClasses are)."""
        return [doc for doc in await self._documents(LIMITRANGES) if (doc.get("metadata") or {}).get("namespace") == namespace]

    async def _priority_classes(self) -> builtins.list[dict[str, Any]]:
        return await self._documents(PRIORITYCLASSES)

    async def _documents(self, res: Resource) -> builtins.list[dict[str, Any]]:
        """Every ``res`` document, as admission reads them: shared by concurrent writes, kept a moment."""
        async def read() -> builtins.list[dict[str, Any]]:
            return list((await self.list(res, as_documents=True)).items)
        return await self._admission_reads.get(res.plural, read)

    async def _open_namespace(self, res: Resource, new: KubeObject) -> tuple[str, int]:
        """(key, mod_revision) of the namespace ``new`` goes into; 404 when absent, 403 when Terminating."""
        name = new.metadata.namespace or ""
        ns_key = NAMESPACES.key(name)
        known = self._open_namespaces.get(name)
        if known is not None:
            return ns_key, known
        response = await range_(self.client, ns_key, what=f"get {ns_key}")
        if not response.kvs:
            raise errors.not_found("namespaces", name)
        kv = response.kvs[0]
        namespace = decode(NAMESPACES, kv.value, kv.mod_revision, self.encryption)
        if strategy.namespace_terminating(namespace):
            raise strategy.forbidden_in_terminating_namespace(res.plural, res.group, new.metadata.name, name)
        if len(self._open_namespaces) >= 4096:  # bounded: namespaces come and go
            self._open_namespaces.clear()
        self._open_namespaces[name] = kv.mod_revision
        return ns_key, kv.mod_revision

    async def update(
        self, res: Resource[T], obj: T, *, subresource: Subresource = None, fence: Fence | None = None,
        dry_run: bool = False, read: T | None = None,
    ) -> T:
        """Replace the object; with a resourceVersion it must be unchanged (409 Conflict).

        As in Kubernetes, the main resource keeps the stored status and the
        ``status`` subresource keeps the stored spec and metadata (a Pod's labels and
        annotations excepted: kube's pods/status writes them).
        ``read``: the stored object ``obj`` was made from, as the caller read it (an informer's
        copy, never changed in place) — used instead of reading it again when it has ``obj``'s
        resourceVersion; the write still compares that revision, so a stale one is a 409 as before.
        """
        self._forget_admission_reads(res, obj.metadata.namespace)
        wanted = obj.metadata.resource_version
        if read is not None and wanted and read.metadata.resource_version == wanted and \
                (read.name, read.namespace) == (obj.name, obj.namespace):
            current = read
        else:
            current = await self.get(res, obj.name, obj.namespace)
        wanted_rv = obj.metadata.resource_version
        if wanted_rv and wanted_rv != current.metadata.resource_version:
            raise errors.conflict(
                res.plural, obj.name,
                "the object has been modified; please apply your changes to the latest version and try again",
                group=res.group,
            )
        if obj.metadata.uid and obj.metadata.uid != current.metadata.uid:
            raise errors.conflict(res.plural, obj.name, f"Precondition failed: UID in object meta: {obj.metadata.uid}, "
                                  f"UID in storage: {current.metadata.uid}", group=res.group)
        new = _merge_update(current, obj, subresource, keep_status=res.status_subresource)
        new = strategy.prepare_for_update(current, new, self.admission, subresource=subresource)
        if res is CUSTOMRESOURCEDEFINITIONS:
            new = await self._crd_names(new, current)
        if res is not SERVICES or subresource is not None:
            return await self._write(res, current, new, fence=fence, dry_run=dry_run, charge=subresource is None)
        avoid: set[str] = set()
        for _ in range(RANDOM_TRIES):
            assignment = self.services.assign(new.to_dict(), current.to_dict(), avoid=avoid)
            try:
                return await self._write(res, current, type(new).model_validate(assignment.doc), fence=fence,
                                         dry_run=dry_run, charge=True)
            except _Taken as taken:
                refused = self.services.taken_error(new.name, assignment, taken.keys)
                if refused is not None:
                    raise refused from None
                avoid |= taken.keys
        raise errors.internal("failed to allocate the service's addresses: every pick was taken")

    async def guaranteed_update(
        self, res: Resource[T], name: str, namespace: str | None, mutate: Callable[[T], T | None], *,
        subresource: Subresource = None, fence: Fence | None = None,
    ) -> T:
        """Read, mutate a copy, write with the read's resourceVersion; retry on conflict.

        ``mutate`` returns None to leave the object as it is.
        """
        for _ in range(_GUARANTEED_UPDATE_TRIES):
            current = await self.get(res, name, namespace)
            changed = mutate(current.deep_copy())
            if changed is None:
                return current
            changed.metadata.resource_version = current.metadata.resource_version
            try:
                return await self.update(res, changed, subresource=subresource, fence=fence)
            except errors.ApiError as exc:
                if exc.code != 409 or isinstance(exc, NotLeader):
                    raise
        raise errors.conflict(res.plural, name, f"gave up after {_GUARANTEED_UPDATE_TRIES} conflicting writes",
                              group=res.group)

    async def delete(
        self, res: Resource[T], name: str, namespace: str | None = None, *, resource_version: str | None = None,
        uid: str | None = None, grace_period_seconds: int | None = None,
        propagation_policy: str | None = None, fence: Fence | None = None, dry_run: bool = False,
    ) -> tuple[T, bool]:
        """Delete, or mark for deletion; returns (object, deleted_now).

        Objects with finalizers, and pods bound to a node with a grace
        period, only get a deletionTimestamp: the GC or the node's agent
        finishes the deletion (Kubernetes' graceful deletion). Without a
        resourceVersion precondition, a concurrent write is not the caller's
        conflict: the delete is retried on the new version, as the API server does.
        """
        self._forget_admission_reads(res, namespace)
        for _ in range(_GUARANTEED_UPDATE_TRIES):
            current = await self.get(res, name, namespace)
            if resource_version and resource_version != current.metadata.resource_version:
                raise errors.conflict(res.plural, name, f"Precondition failed: ResourceVersion in precondition: "
                                      f"{resource_version}, ResourceVersion in storage: "
                                      f"{current.metadata.resource_version}", group=res.group)
            if uid and uid != current.metadata.uid:
                raise errors.conflict(res.plural, name, f"Precondition failed: UID in precondition: {uid}, "
                                      f"UID in storage: {current.metadata.uid}", group=res.group)
            marked = _mark_for_deletion(res, current, self.clock(), grace_period_seconds, propagation_policy)
            try:
                if marked is None:
                    await self._delete_key(res, current, fence=fence, dry_run=dry_run)
                    return current, True
                if marked is current:
                    return current, False
                # a deletion mark is the store's own metadata: an object stored before a rule existed stays deletable
                return await self._write(res, current, marked, fence=fence, dry_run=dry_run, validate=False), False
            except errors.ApiError as exc:
                if exc.reason != "Conflict" or isinstance(exc, NotLeader) or resource_version:
                    raise
        raise errors.conflict(res.plural, name, f"gave up after {_GUARANTEED_UPDATE_TRIES} conflicting writes",
                              group=res.group)

    async def bind(
        self, namespace: str, name: str, node: str, *, uid: str | None = None, resource_version: str | None = None,
        annotations: dict[str, str] | None = None, fence: Fence | None = None, read: Pod | None = None,
    ) -> str:
        """Assign an unbound pod to ``node``: kube's ``pods/binding`` (BindingREST.assignPod in
        ``pkg/registry/core/pod/storage``). In one write: ``spec.nodeName``, the binding's
        annotations merged into the pod's, and ``PodScheduled=True``
        (:func:`kubelite.storage.binding.bound_document`). Not an update: the pod's strategy, the
        semantic no-op check and validation do not run (nothing else changes). Returns the bound
        pod's resourceVersion.

        ``uid``/``resource_version``: preconditions (409 when they do not hold). ``read``: the pod as
        the caller read it (an informer's copy, unchanged), tried first; on a conflict the pod is read
        again and the binding retried unless ``resource_version`` was given. Errors: 404 no such pod;
        409 Conflict when the pod is already assigned, is being deleted, still has scheduling gates, or a
        precondition fails.
        """
        for attempt in range(_GUARANTEED_UPDATE_TRIES):
            cached = attempt == 0 and read is not None
            if cached:
                assert read is not None
                doc, stored_rv = read.to_dict(), read.metadata.resource_version
            else:
                doc, mod_revision = await self._stored_document(PODS, name, namespace)
                stored_rv = str(mod_revision)
            meta: dict[str, Any] = doc.get("metadata") or {}
            meta.pop("resourceVersion", None)
            if resource_version and resource_version != stored_rv:
                if cached:
                    continue  # the caller's copy is stale: read what is stored before judging
                raise errors.conflict("pods", name, f"Precondition failed: ResourceVersion in precondition: "
                                      f"{resource_version}, ResourceVersion in storage: {stored_rv}")
            if uid and uid != meta.get("uid"):
                if cached:
                    continue
                raise errors.conflict("pods", name, f"Precondition failed: UID in precondition: {uid}, "
                                      f"UID in storage: {meta.get('uid')}")
            if meta.get("deletionTimestamp") is not None:
                raise errors.conflict("pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host")
            assigned = (doc.get("spec") or {}).get("nodeName")
            if assigned:
                raise errors.conflict("pods/binding", name, f'pod {name} is already assigned to node "{assigned}"')
            if (doc.get("spec") or {}).get("schedulingGates"):
                if cached:
                    continue  # gated in the caller's copy: what is stored may have none left
                raise errors.conflict("pods/binding", name, f"pod {name} has non-empty .spec.schedulingGates")
            value = self._stored_bytes(PODS, name, codec.dumps(bound_document(doc, node, annotations or {},
                                                                              self.clock())))
            try:
                revision = await self._put_key(PODS, PODS.key(name, namespace), name, int(stored_rv or 0), value,
                                               fence=fence, dry_run=False)
            except errors.ApiError as exc:
                if exc.reason != "Conflict" or isinstance(exc, NotLeader) or resource_version:
                    raise
                continue
            return str(revision)
        raise errors.conflict("pods/binding", name, f"gave up after {_GUARANTEED_UPDATE_TRIES} conflicting writes")

    async def bind_batch(self, binds: Sequence[tuple[Pod, str]], *, fence: Fence | None = None) -> builtins.list[str | None]:
        """Bind several pods, each as its caller read it (an informer's copy: ``(pod, node)``), in ONE etcd
        txn that compares every pod's mod_revision (and the fence). kube binds a pod per request; here the
        scheduler's binds of one moment share a txn: a txn costs the caller about 0.3 ms of CPU whatever it
        carries, a put in it tens of µs (issue 12, target 3: bench/bench_scheduler.py). Each pod's write is
        :meth:`bind`'s, without annotations, and the copy's uid and revision are its preconditions.

        Returns, per pod, the bound pod's resourceVersion, or None when :meth:`bind` must do it instead:
        the copy is not bindable as read (assigned, deleting, gated, no resourceVersion), its key is
        already in the txn, the txn would pass TXN_BYTES, or the txn failed because something it compared
        changed; :meth:`bind` then reads the pod again and gives its own
        answer (bound, 404, 409, NotLeader). etcd errors and timeouts are raised for all."""
        results: builtins.list[str | None] = [None] * len(binds)
        compare: builtins.list[Any] = []
        success: builtins.list[Any] = []
        picked: builtins.list[int] = []
        keys: set[str] = set()
        size = 0
        now = self.clock()
        for index, (pod, node) in enumerate(binds):
            doc = pod.to_dict()
            meta: dict[str, Any] = doc.get("metadata") or {}
            spec: dict[str, Any] = doc.get("spec") or {}
            stored_rv = meta.pop("resourceVersion", None)
            key = PODS.key(pod.name, pod.namespace)
            if not stored_rv or meta.get("deletionTimestamp") is not None or spec.get("nodeName") \
                    or spec.get("schedulingGates") or key in keys:  # etcd refuses a key twice in a txn
                continue
            value = self._stored_bytes(PODS, pod.name, codec.dumps(bound_document(doc, node, {}, now)))
            if size + len(value) > TXN_BYTES:
                continue  # bound alone: etcd refuses a request over --max-request-bytes
            keys.add(key)
            size += len(value)
            compare.append(cmp_mod(key, "==", int(stored_rv)))
            success.append(op_put(key, value, keep_lease=True))
            picked.append(index)
        if not picked:
            return results
        _add_fence(compare, fence)
        response = await txn(self.client, compare, success, [], what=f"bind {len(picked)} pods")
        if response.succeeded:
            for index in picked:
                results[index] = str(response.header.revision)
        return results

    async def _stored_document(self, res: Resource, name: str, namespace: str | None) -> tuple[dict[str, Any], int]:
        """(the stored JSON as a plain document, its mod_revision), read as :meth:`get` reads; 404 when absent."""
        kv = await self.point_reads.get(res.key(name, namespace))
        if kv is None:
            raise errors.not_found(res.plural, name, group=res.group)
        return codec.loads(plaintext(res, kv.value, self.encryption)), kv.mod_revision

    # -- internals -----------------------------------------------------------

    async def _write(
        self, res: Resource, current: T, new: T, *, fence: Fence | None, dry_run: bool, validate: bool = True,
        charge: bool = False,
    ) -> T:
        """Put ``new`` if ``current`` is still what etcd has; drops objects whose last finalizer went."""
        if strategy.should_delete_during_update(current, new):
            await self._delete_key(res, current, fence=fence, dry_run=dry_run)
            new.metadata.resource_version = current.metadata.resource_version
            return new
        new.metadata.generation = current.metadata.generation or 1
        # Kubernetes compares decoded, defaulted objects (apiequality.Semantic): a spelling change
        # such as `resources: {}` is neither a new generation nor a write at all.
        changed = _changed_parts(res.kind, _unversioned(current), _unversioned(new))
        if not changed and not await self._stale(res, current):
            return current  # an update that changes nothing keeps its resourceVersion and sends no event
        if changed - _NOT_SPEC or (new.metadata.deletion_timestamp and not current.metadata.deletion_timestamp):
            new.metadata.generation += 1
        value = self._stored_value(res, new, validate=validate, old=current)
        revision = await self._put_if_unchanged(res, current, new, value, fence=fence, dry_run=dry_run, charge=charge)
        new.metadata.resource_version = str(revision)
        return new

    async def _put_if_unchanged(self, res: Resource, current: KubeObject, new: KubeObject, value: bytes, *,
                                fence: Fence | None, dry_run: bool, charge: bool = False) -> int:
        """Put ``value`` at ``new``'s key if it is still at ``current``'s revision (404 gone, 409 changed),
        with the address claims and releases the change makes (Services); returns the write's revision.
        ``charge``: a main-resource update, which ResourceQuota admission charges for the kinds whose usage
        an update can grow (a Service's node ports, a claim's storage), in the same txn."""
        claimed, released = _allocation_changes(res, current, new)
        namespace = new.metadata.namespace or ""
        for attempt in range(_GUARANTEED_UPDATE_TRIES):
            quotas, charges = await self._quota_charges(res, new, current, fresh=attempt > 0) if charge else ([], [])
            async with self.quotas.turn(namespace, bool(quotas)):  # as creates do
                if quotas:
                    quotas, charges = await self._quota_charges(res, new, current, fresh=attempt > 0)
                try:
                    revision = await self._put_key(res, res.key_of(new), new.name,
                                                   int(current.metadata.resource_version or 0), value, fence=fence,
                                                   dry_run=dry_run, claimed=claimed, released=released,
                                                   owner=_owner_value(new), quotas=quotas, charges=charges)
                except QuotaChanged:
                    continue
                if charges and not dry_run:
                    self.quotas.written(namespace, charges, revision)
                return revision
        raise errors.conflict(res.plural, new.name, "its namespace's resource quotas changed during every attempt",
                              group=res.group)

    async def _put_key(self, res: Resource, key: str, name: str, mod_revision: int, value: bytes, *,
                       fence: Fence | None, dry_run: bool, claimed: Sequence[str] = (), released: Sequence[str] = (),
                       owner: bytes = b"", quotas: Sequence[QuotaRead] = (), charges: Sequence[Charge] = ()) -> int:
        """Put ``value`` at ``key`` if it is still at ``mod_revision``, claiming the keys ``claimed``
        (their value ``owner``) and deleting ``released``, in one txn; returns the write's revision.
        404 when the key is gone, 409 when it changed; QuotaChanged when only one of ``quotas`` did (their
        ``charges`` are put in the txn). The one etcd step of an update (:mod:`kubelite.storage.memstore`
        replaces it)."""
        compare = [cmp_mod(key, "==", mod_revision)]
        _add_fence(compare, fence)
        compare += [cmp_version(k, "==", 0) for k in claimed]
        compare += [cmp_mod(q.key, "==", q.mod_revision) for q in quotas]
        success = [] if dry_run else [op_put(key, value, keep_lease=True), *(op_put(k, owner) for k in claimed),
                                      *(op_delete(k) for k in released), *(op_put(c.key, c.value) for c in charges)]
        response = await txn(self.client, compare, success, [op_get(key), *(op_get(k) for k in claimed)],
                             what=f"update {key}")
        if not response.succeeded:
            await self._raise_fenced(fence)
            if not response.responses[0].response_range.kvs:
                raise errors.not_found(res.plural, name, group=res.group)
            _raise_taken(claimed, response.responses[1:])
            if quotas and response.responses[0].response_range.kvs[0].mod_revision == mod_revision:
                raise QuotaChanged()
            raise errors.conflict(res.plural, name, "the object has been modified; please apply your changes "
                                  "to the latest version and try again", group=res.group)
        return int(response.header.revision)

    def watch(self, res: Resource, namespace: str | None = None, *, from_revision: int,
              options: Any = None, raw_filter: Callable[[bytes], bool] | None = None) -> AsyncIterator[Any]:
        """Events of ``res`` from ``from_revision`` (:func:`kubelite.storage.watch.watch`; what informers consume)."""
        from kubelite.storage.watch import WatchOptions, watch  # noqa: PLC0415 - kubelite.storage.watch imports this module
        return watch(self.client, res, namespace, from_revision=from_revision, options=options or WatchOptions(),
                     raw_filter=raw_filter)

    async def _delete_key(self, res: Resource, current: KubeObject, *, fence: Fence | None, dry_run: bool) -> None:
        key = res.key_of(current)
        compare = [cmp_mod(key, "==", int(current.metadata.resource_version or 0))]
        _add_fence(compare, fence)
        _, released = _allocation_changes(res, current, None)
        success = [] if dry_run else [op_delete(key), *(op_delete(k) for k in released)]
        response = await txn(self.client, compare, success, [op_get(key)], what=f"delete {key}")
        if not response.succeeded:
            await self._raise_fenced(fence)
            if not response.responses[0].response_range.kvs:
                raise errors.not_found(res.plural, current.name, group=res.group)
            raise errors.conflict(res.plural, current.name, "the object has been modified", group=res.group)

    def _stored_value(self, res: Resource, obj: KubeObject, *, validate: bool = True,
                      old: KubeObject | None = None) -> bytes:
        """What goes into etcd: the validated JSON, encrypted at rest when configured for ``res``
        (a custom resource as its CRD's storage version: the None conversion rewrites apiVersion)."""
        if res.custom and res.storage_version and res.storage_version != res.version:
            obj = obj.model_copy(update={"api_version": f"{res.group}/{res.storage_version}"})
        if res.conversion is not None:  # stored in the other shape, and validated as that kind
            obj = res.conversion.stored.model_validate(res.conversion.to_stored(obj.to_dict()))
            old = res.conversion.stored.model_validate(res.conversion.to_stored(old.to_dict())) if old else None
        return self._stored_bytes(res, obj.name, encode(obj, validate=validate, old=old))

    def _stored_bytes(self, res: Resource, name: str, data: bytes) -> bytes:
        """``data`` (an object's stored JSON) as it goes into etcd: encrypted at rest when configured
        for ``res``; 413 when over MAX_OBJECT_BYTES."""
        value = to_storage(self.encryption, res.plural, res.group, data)
        if len(value) > MAX_OBJECT_BYTES:
            raise errors.too_large(f"{res.kind} {name!r} is {len(value)} bytes; the limit is {MAX_OBJECT_BYTES} bytes")
        return value

    async def _stale(self, res: Resource, current: KubeObject) -> bool:
        """Stored with a key that is no longer the first provider: rewrite even when nothing changed
        (kube's stale transformer read; how ``kubectl replace`` re-encrypts after a key rotation)."""
        if self.encryption is None or self.encryption.transformer(res.plural, res.group) is None:
            return False
        kv = await self.point_reads.get(res.key_of(current))
        if kv is None:
            return False
        try:
            return from_storage(self.encryption, res.plural, res.group, kv.value)[1]
        except DecryptError:
            return True

    async def _raise_fenced(self, fence: Fence | None) -> None:
        if fence is None:
            return
        response = await range_(self.client, fence.key, what=f"check fence {fence.key}")
        if not response.kvs or response.kvs[0].create_revision != fence.create_revision:
            raise NotLeader(errors.Status(code=409, reason="Conflict", message=(
                f"fenced: not the leader (leadership {fence.key}@{fence.create_revision} lost; write refused)")))


def _owner_value(obj: KubeObject) -> bytes:
    return f"{obj.metadata.namespace or ''}/{obj.metadata.name or ''}".encode()


def _allocation_changes(res: Resource, current: KubeObject, new: KubeObject | None) -> tuple[list[str], list[str]]:
    """(keys to claim, keys to release) when a Service changes from ``current`` to ``new`` (None: deleted)."""
    if res is not SERVICES:
        return [], []
    before = held_keys(current.to_dict())
    after = held_keys(new.to_dict()) if new is not None else set()
    return sorted(after - before), sorted(before - after)


def _raise_taken(claimed: Sequence[str], responses: Any) -> None:
    """After a failed txn: raise _Taken naming the claimed keys that exist."""
    taken = {k for k, r in zip(claimed, responses, strict=False) if r.response_range.kvs}
    if taken:
        raise _Taken(taken)


def _add_fence(compare: list[Any], fence: Fence | None) -> None:
    if fence is not None:
        compare.append(fence.compare())


def _merge_update(current: T, obj: T, subresource: Subresource, *, keep_status: bool = True) -> T:
    """Apply Kubernetes' update rules: identity and timestamps are the store's; with ``keep_status``
    (the kind has a status subresource) a main-resource update keeps the stored status."""
    if subresource is not None:
        # ``current`` was just read for this update (nobody else holds it): a copy of its top level
        # and metadata is enough, the parts this function and the store's write change
        new = current.model_copy(update={"metadata": current.metadata.model_copy()})
        if subresource == "status":
            setattr(new, "status", getattr(obj, "status", None))
            if isinstance(current, Pod) and isinstance(new, Pod):
                # kube's podStatusStrategy: the QoS class is set on create and immutable; a status that
                # leaves it out (an older kubelet's) keeps the stored one
                kept = current.status.qos_class if current.status else None
                if kept and not (new.status and new.status.qos_class):
                    new.status = (new.status or PodStatus()).model_copy(update={"qos_class": kept})
                # kube's podStatusStrategy keeps the request's metadata but ownerReferences and
                # deletionTimestamp (NodeRestriction refuses a node's label change there); kubelite
                # keeps its labels and annotations (the agent reports host ports in one)
                new.metadata.labels, new.metadata.annotations = obj.metadata.labels, obj.metadata.annotations
        elif subresource == "approval":  # CertificateSigningRequests: only status.conditions changes
            conditions = (obj.to_dict().get("status") or {}).get("conditions")
            status = {k: v for k, v in (current.to_dict().get("status") or {}).items() if k != "conditions"}
            setattr(new, "status", {**status, "conditions": conditions} if conditions else status)
        else:  # finalize (namespaces): only spec.finalizers changes
            finalizers = obj.spec.finalizers if isinstance(obj, Namespace) and obj.spec else None
            if isinstance(new, Namespace) and new.spec is not None:
                new.spec = new.spec.model_copy(update={"finalizers": finalizers})
        if obj.metadata.resource_version == current.metadata.resource_version:
            # computed from this very object: its managedFields record the subresource's writer
            new.metadata.managed_fields = obj.metadata.managed_fields
        return new
    new = obj.deep_copy()
    if keep_status and hasattr(current, "status"):
        setattr(new, "status", getattr(current, "status", None))
    meta, old = new.metadata, current.metadata
    meta.uid = old.uid
    meta.creation_timestamp = old.creation_timestamp
    meta.namespace = old.namespace
    meta.deletion_timestamp = old.deletion_timestamp
    meta.deletion_grace_period_seconds = old.deletion_grace_period_seconds
    meta.generate_name = meta.generate_name if meta.generate_name is not None else old.generate_name
    new.api_version, new.kind = current.api_version, current.kind
    return new


def _mark_for_deletion(
    res: Resource, current: T, now: datetime, grace_period_seconds: int | None, propagation_policy: str | None
) -> T | None:
    """The marked copy, ``current`` when already marked, or None to delete the key now."""
    if isinstance(current, Namespace):
        return strategy.mark_namespace_for_deletion(current, now)  # type: ignore[return-value]
    meta = current.metadata
    finalizers = list(meta.finalizers or [])
    if propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    elif propagation_policy == "Orphan" and "orphan" not in finalizers:
        finalizers.append("orphan")
    graceful_pod = res is PODS and _pod_needs_agent(current) and grace_period_seconds != 0
    if not finalizers and not graceful_pod:
        return None
    times: tuple[datetime, int] | None
    if graceful_pod:
        default = getattr(getattr(current, "spec", None), "termination_grace_period_seconds", None)
        requested = grace_period_seconds if grace_period_seconds is not None else (30 if default is None else default)
        times = strategy.graceful_deletion(meta.deletion_timestamp, meta.deletion_grace_period_seconds, requested, now)
    else:
        times = None if meta.deletion_timestamp else (now, 0)
    if times is None and finalizers == (meta.finalizers or []):
        return current
    marked = current.deep_copy()
    marked.metadata.finalizers = finalizers or None
    if times is not None:
        marked.metadata.deletion_timestamp, marked.metadata.deletion_grace_period_seconds = times
    return marked


def _pod_needs_agent(pod: KubeObject) -> bool:
    """A bound pod that has not finished must be stopped by its agent before the key goes."""
    spec, status = getattr(pod, "spec", None), getattr(pod, "status", None)
    phase = getattr(status, "phase", None)
    return bool(getattr(spec, "node_name", None)) and phase not in ("Succeeded", "Failed")


def _encode_continue(revision: int, start: bytes) -> str:
    doc = {"v": "kubelite/v1", "rv": revision, "start": base64.b64encode(start).decode()}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def _decode_continue(token: str, prefix: str) -> tuple[int, bytes]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode()))
        revision, start = int(doc["rv"]), base64.b64decode(doc["start"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise errors.bad_request(f"invalid continue token: {exc}") from exc
    if not start.startswith(prefix.encode()):
        raise errors.bad_request("invalid continue token: it belongs to another list")
    return revision, start
