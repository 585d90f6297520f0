"""A body sent with a form's or text's content type (the ones a web page may send cross-origin without a
CORS preflight) is kube's 415, never decoded as JSON: the local owner's plain HTTP is keyed by the
socket's uid, not by a credential, so this is what stands beside the Origin check against CSRF."""

from __future__ import annotations

import pytest

from kubelite.api import errors
from kubelite.gateway.bodies import decode

BODY = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "csrf"}}'


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "Application/X-WWW-Form-Urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_form_and_text_bodies_are_415(content_type: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        decode(BODY, content_type)
    assert caught.value.code == 415 and caught.value.reason == "UnsupportedMediaType"


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
def test_json_and_yaml_bodies_decode(content_type: str) -> None:
    assert decode(BODY, content_type)["metadata"] == {"name": "csrf"}
