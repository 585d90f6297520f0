"""Random name suffixes, as kube-apiserver's ``SimpleNameGenerator`` makes them for ``generateName``
(k8s.io/apiserver/pkg/storage/names: 5 characters of ``utilrand``'s alphabet, which has no vowels and
no look-alike characters, so no words and no ambiguity).

Not secrets: Kubernetes draws them from math/rand, and this module from Python's ``random`` (about
1 µs a name, against about 7 µs a character from the operating system's ``secrets``; issue 12: a
ReplicaSet's pod creates draw two each).
"""

from __future__ import annotations

import random
from collections.abc import Callable

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # utilrand's, also pod-template-hash's (SafeEncodeString)
SUFFIX_LENGTH = 5
_RANDOM = random.Random()


def random_suffix(choice: Callable[[str], str] | None = None) -> str:
    """:data:`SUFFIX_LENGTH` characters of :data:`ALPHABET`; ``choice`` (tests) picks each one."""
    if choice is None:
        return "".join(_RANDOM.choices(ALPHABET, k=SUFFIX_LENGTH))
    return "".join(choice(ALPHABET) for _ in range(SUFFIX_LENGTH))
