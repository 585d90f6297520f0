"""Reading and writing a DaemonSet's or StatefulSet's ControllerRevisions (the I/O around
:mod:`controllers.history`), as kube's controllers do in ``constructHistory`` /
``getStatefulSetRevisions`` and ``truncateHistory``.

The current revision is the one holding the owner's template (compared semantically);
if none does, ``<owner>-<hash>`` is created with the next revision number; a template
that comes back (``kubectl rollout undo``) gets its old revision renumbered to the top.
A name taken by a revision that is not ours raises the owner's ``status.collisionCount``
(so the next hash differs) and fails this reconcile, to be retried.

Revisions this store wrote are read through until the informer has delivered them. Without
that, a reconcile soon after a write (the owner's next event can come first: it is another
watch) misses the revision: the StatefulSet's ``status.currentRevision`` names nothing known,
so the current revision falls back to the update revision and a partitioned rollout replaces
nothing below the partition, and the next revision number repeats. Kubernetes' controllers
read the lister alone and have this race; the pod expectations close it for pods only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api import errors, semantic
from kubelite.api.meta import KubeObject
from kubelite.api.resources import CONTROLLERREVISIONS, Resource
from kubelite.api.workloads import REVISION_HASH_LABEL, ControllerRevision, document, view
from kubelite.client.informer import Informer

from controllers import history
from controllers.podutil import owner_reference

if TYPE_CHECKING:
    from controllers.base import Controller


class RevisionStore:
    def __init__(self, controller: Controller, owner_res: Resource, informer: Informer) -> None:
        self.controller = controller
        self.owner_res = owner_res
        self.informer = informer  # the shared ControllerRevision informer
        # owner uid -> (generation, revision name, its resourceVersion): the template only changes with the
        # generation, so while both are unchanged the current revision is known without comparing templates
        self._known: dict[str, tuple[int, str, str]] = {}
        # owner uid -> {revision name: what this store wrote, or None for a delete} not yet seen by the informer
        self._unseen: dict[str, dict[str, ControllerRevision | None]] = {}

    def owned(self, owner: KubeObject) -> list[ControllerRevision]:
        """The owner's revisions: the informer's, with this store's writes it has not delivered yet."""
        uid = owner.metadata.uid or ""
        cached = {cr.name: view(ControllerRevision, cr) for cr in self.informer.by_index("controller", uid)}
        unseen = self._unseen.get(uid)
        if unseen:
            for name, written in list(unseen.items()):
                if written is None:  # deleted: hidden until the informer drops it too
                    if cached.pop(name, None) is None:
                        del unseen[name]
                    continue
                rv = int(written.metadata.resource_version or 0)
                have = cached.get(name)
                have_rv = int(have.metadata.resource_version or 0) if have is not None else 0
                if rv <= self.informer.revision or have_rv >= rv:
                    del unseen[name]  # the informer has it, or something newer
                else:
                    cached[name] = written
            if not unseen:
                del self._unseen[uid]
        return [cr for cr in cached.values() if cr.metadata.deletion_timestamp is None]

    def _wrote(self, owner: KubeObject, name: str, written: ControllerRevision | None) -> None:
        if len(self._unseen) >= 4096:  # bounded: a lost entry only reopens kube's own race
            self._unseen.clear()
        self._unseen.setdefault(owner.metadata.uid or "", {})[name] = written

    async def current(self, owner: KubeObject, template: dict[str, Any],
                      collision_count: int | None) -> tuple[ControllerRevision, list[ControllerRevision]]:
        """(the revision of ``template``, every revision the owner has, that one included)."""
        revisions = self.owned(owner)
        uid, generation = owner.metadata.uid or "", owner.metadata.generation or 0
        known = self._known.get(uid)
        if known is not None and known[0] == generation:
            hit = next((r for r in revisions if r.name == known[1]
                        and r.metadata.resource_version == known[2]), None)
            if hit is not None and hit.revision == max(r.revision for r in revisions):
                return hit, revisions
        current, revisions = await self._current(owner, revisions, template, collision_count)
        if len(self._known) >= 4096:  # bounded: owners come and go
            self._known.clear()
        self._known[uid] = (generation, current.name, current.metadata.resource_version or "")
        return current, revisions

    async def _current(self, owner: KubeObject, revisions: list[ControllerRevision], template: dict[str, Any],
                       collision_count: int | None) -> tuple[ControllerRevision, list[ControllerRevision]]:
        store, fence = self.controller.store, self.controller.fence
        found = history.matching(revisions, template)
        top = history.next_revision(revisions)
        if found:
            current, duplicates = found[0], found[1:]
            for duplicate in duplicates:
                await self._delete(owner, duplicate.name)
            revisions = [r for r in revisions if r not in duplicates]
            if current.revision < top - 1 or (duplicates and current.revision != top - 1):
                bumped = current.deep_copy()
                bumped.revision = top
                written = await store.update(CONTROLLERREVISIONS, document(CONTROLLERREVISIONS.model, bumped),
                                             fence=fence)
                current = view(ControllerRevision, written)
                self._wrote(owner, current.name, current)
                revisions = [current if r.name == current.name else r for r in revisions]
            return current, revisions
        template_hash = semantic.template_hash(template, collision_count)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), REVISION_HASH_LABEL: template_hash}
        meta: dict[str, Any] = {"name": history.revision_name(owner.name, template_hash), "namespace": owner.namespace,
                                "labels": labels, "ownerReferences": [owner_reference(owner).to_dict()]}
        if owner.metadata.annotations:
            meta["annotations"] = dict(owner.metadata.annotations)
        body = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta,
                "data": history.revision_data(template), "revision": top}
        try:
            created = await store.create(CONTROLLERREVISIONS, document(CONTROLLERREVISIONS.model, body), fence=fence)
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            existing = view(ControllerRevision, await store.get(CONTROLLERREVISIONS, meta["name"], owner.namespace))
            ref = existing.metadata.controller_ref()
            if ref is not None and ref.uid == owner.metadata.uid and history.same_template(existing, template):
                self._wrote(owner, existing.name, existing)
                return existing, [*revisions, existing]  # ours, not in the cache yet
            await self._bump_collision_count(owner)
            raise
        current = view(ControllerRevision, created)
        self._wrote(owner, current.name, current)
        return current, [*revisions, current]

    async def cleanup(self, owner: KubeObject, revisions: list[ControllerRevision], live: set[str],
                      limit: int | None) -> None:
        """Delete revisions past ``revisionHistoryLimit`` (default 10) that nothing uses, oldest first."""
        for name in history.to_delete(revisions, live, 10 if limit is None else limit):
            await self._delete(owner, name)

    async def _delete(self, owner: KubeObject, name: str) -> None:
        try:
            await self.controller.store.delete(CONTROLLERREVISIONS, name, owner.namespace, fence=self.controller.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        self._wrote(owner, name, None)

    async def _bump_collision_count(self, owner: KubeObject) -> None:
        model = self.owner_res.model

        def bump(current: KubeObject) -> KubeObject:
            doc = current.to_dict()
            status = dict(doc.get("status") or {})
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            return model.model_validate({**doc, "status": status})
        await self.controller.store.guaranteed_update(self.owner_res, owner.name, owner.namespace, bump,
                                                      subresource="status", fence=self.controller.fence)
