"""Which ConfigMaps and Secrets a pod uses (pure): so a change of one re-syncs only its pods."""

from __future__ import annotations

from kubelite.api.core import Pod

Ref = tuple[str, str]  # ("configmap" | "secret", name)


def pod_refs(pod: Pod) -> set[Ref]:
    refs: set[Ref] = set()
    for container in [*(pod.spec.init_containers or []), *pod.spec.containers]:
        for source in container.env_from or []:
            if source.config_map_ref is not None:
                refs.add(("configmap", source.config_map_ref.name or ""))
            if source.secret_ref is not None:
                refs.add(("secret", source.secret_ref.name or ""))
        for var in container.env or []:
            value_from = var.value_from
            if value_from is not None and value_from.config_map_key_ref is not None:
                refs.add(("configmap", value_from.config_map_key_ref.name or ""))
            if value_from is not None and value_from.secret_key_ref is not None:
                refs.add(("secret", value_from.secret_key_ref.name or ""))
    for volume in pod.spec.volumes or []:
        if volume.config_map is not None:
            refs.add(("configmap", volume.config_map.name or ""))
        if volume.secret is not None:
            refs.add(("secret", volume.secret.secret_name or ""))
        for projection in (volume.projected.sources or []) if volume.projected is not None else []:
            if projection.config_map is not None:
                refs.add(("configmap", projection.config_map.name or ""))
            if projection.secret is not None:
                refs.add(("secret", projection.secret.name or ""))
    return refs
