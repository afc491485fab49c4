"""The sign-proxy's allowlist: the binding's paths are forwarded as the right kind, anything
else is refused before a byte is read or signed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signproxy.binding import Kind, classify
from signproxy.errors import MethodNotAllowedError, OutsideBindingError


@pytest.mark.parametrize(("method", "path", "kind"), [
    ("POST", "/capture", Kind.CAPTURE),
    ("POST", "/events", Kind.EVENT),
    ("GET", "/", Kind.READ),
    ("GET", "/capture", Kind.READ),
    ("GET", "/capture/abc", Kind.READ),
    ("GET", "/events", Kind.READ),
    ("GET", "/events/ni%3A%2F%2F%2Fsha-256%3Bab%3Fver%3DCBV2.0", Kind.READ),
    ("OPTIONS", "/events", Kind.READ),
    ("GET", "/epcs/https:%2F%2Fid.gs1.org%2F01%2F09506000134352%2F21%2F1/events", Kind.READ),
    ("GET", "/bizSteps", Kind.READ),
    ("POST", "/queries", Kind.READ),
    ("DELETE", "/queries/q1", Kind.READ),
    ("GET", "/queries/q1/events", Kind.READ),
    ("POST", "/queries/q1/subscriptions", Kind.READ),
    ("DELETE", "/queries/q1/subscriptions/s1", Kind.READ),
    ("DELETE", "/nextPageToken/abc", Kind.READ),
])
def test_binding_paths_are_forwarded_as_their_kind(method: str, path: str, kind: Kind) -> None:
    assert classify(method, path) is kind


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/events/x"), ("PUT", "/capture"), ("DELETE", "/events"), ("POST", "/bizSteps"),
    ("GET", "/nextPageToken/abc"), ("POST", "/queries/q1"),
])
def test_RevertIf_method_not_in_the_binding(method: str, path: str) -> None:
    with pytest.raises(MethodNotAllowedError) as err:
        classify(method, path)
    assert err.value.status == 405 and err.value.fields["allow"]


_BINDING_HEADS = ("", "capture", "events", "eventTypes", "epcs", "bizSteps", "bizLocations",
                  "readPoints", "dispositions", "queries", "nextPageToken")


@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_.%",
                        min_size=1, max_size=12), min_size=1, max_size=4))
def test_RevertIf_any_other_path_is_forwarded(segments: list[str]) -> None:
    path = "/" + "/".join(segments)
    if segments[0] in _BINDING_HEADS and not any(s in (".", "..", "%2e", "%2E") for s in segments):
        return  # a binding path: classified above
    with pytest.raises((OutsideBindingError, MethodNotAllowedError)):
        classify("GET", path)


@given(st.sampled_from(_BINDING_HEADS[1:]), st.sampled_from([".", "..", "%2e", "%2E%2e"]),
       st.sampled_from(["members", "console/operator", "codes/issue"]))
def test_RevertIf_dot_segments_reach_past_the_binding(head: str, dots: str, tail: str) -> None:
    with pytest.raises(OutsideBindingError):
        classify("GET", f"/{head}/{dots}/{tail}")
