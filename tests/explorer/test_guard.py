"""textgen/explorer/guard.py's rules on their own: Host parsing, which Hosts a server answers, what a refusal
says, and same-origin checks (the middleware against real requests: tests/explorer/test_abuse.py)."""

from __future__ import annotations

import pytest

from textgen.explorer.guard import HostPolicy, host_text, same_origin, shown, split_host


@pytest.mark.parametrize(("value", "parsed"), [
    ("localhost", ("localhost", None)), ("LocalHost:8000", ("localhost", 8000)), ("mybox.local.:9", ("mybox.local", 9)),
    ("127.0.0.1:65535", ("127.0.0.1", 65535)), ("[::1]:8000", ("::1", 8000)), ("[::1]", ("::1", None)),
    (" example.org ", ("example.org", None)),
    ("", None), ("a b", None), ("::1", None), ("[nothex]:1", None), ("[::1]x", None), ("host:0", None),
    ("host:65536", None), ("host:²", None), ("host:", ("host", None)), ("héllo.org", None), ("x" * 254, None),
    ("host:80:81", None),
])
def test_split_host(value, parsed):
    assert split_host(value) == parsed


def test_host_text_brackets_ipv6_and_round_trips():
    assert (host_text("::1", 8000), host_text("example.org"), host_text("example.org", 80)) == (
        "[::1]:8000", "example.org", "example.org:80")
    for value in ("[::1]:8000", "example.org:443", "127.0.0.1"):
        assert host_text(*split_host(value)) == value


def test_a_server_answers_its_loopback_names_and_address_on_its_port_only():
    policy = HostPolicy(port=8000)
    assert all(policy.permits(host) for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"))
    assert not any(policy.permits(host) for host in ("localhost:9000", "localhost", "evil.example:8000", "", None, "::1"))
    assert policy.permits("10.0.0.5:8000", local_address="10.0.0.5")  # the address the request came in on
    assert HostPolicy(port=None).permits("localhost:1234")  # not bound yet: any port
    assert HostPolicy(port=80).permits("localhost")  # no port in Host is port 80


def test_allowed_names_take_any_port_unless_one_is_given():
    policy = HostPolicy(port=8000, allowed=["Mybox.local", "proxy.example:443"])
    assert policy.permits("mybox.local:1") and policy.permits("MYBOX.LOCAL")
    assert policy.permits("proxy.example:443") and policy.permits("proxy.example")  # a browser leaves out 443
    assert not policy.permits("proxy.example:8443")
    with pytest.raises(ValueError, match="not a host name: 'bad host'"):
        HostPolicy(allowed=["bad host"])


def test_bound_to_every_address_the_wildcards_are_its_names_and_the_browser_address_is_loopback():
    policy = HostPolicy(port=8000, bound="0.0.0.0")
    assert policy.permits("0.0.0.0:8000") and policy.permits("[::]:8000") and not policy.permits("10.1.1.1:8000")
    assert policy.address() == "http://127.0.0.1:8000"
    assert HostPolicy(port=8000, bound="::").address() == "http://[::1]:8000"
    assert HostPolicy(port=8000, bound="[::1]").address() == "http://[::1]:8000"


def test_refusals_say_what_to_do_and_suggest_allow_host_only_for_what_it_takes():
    policy = HostPolicy(port=8000)
    assert policy.refusal(None) == "the request has no Host header: this server answers requests for http://127.0.0.1:8000"
    assert policy.refusal("a b").startswith("Host 'a b' is not a host name and port")
    assert policy.refusal("localhost:9000") == ("Host 'localhost:9000' names port 9000, but this server listens on port "
                                                "8000: open http://localhost:8000; if a proxy forwards localhost:9000 "
                                                "here, start the server with --allow-host localhost:9000")
    assert policy.refusal("evil.example").endswith("a page on another site may be trying to reach it; to serve that "
                                                   "name on purpose, start the server with --allow-host evil.example")
    long = "a" * 100 + ".example"
    assert policy.refusal(long).endswith("start the server with --allow-host and that name")
    assert len(policy.refusal("x" * 10_000)) < 300  # a huge Host is quoted cut short


def test_shown_quotes_and_cuts():
    assert shown("abc") == "'abc'" and shown("x" * 100, limit=5) == "'xxxxx…'"


@pytest.mark.parametrize(("origin", "host", "scheme", "same"), [
    ("http://localhost:8000", "localhost:8000", "http", True),
    ("http://localhost", "localhost:80", "http", True),
    ("https://example.org", "example.org", "https", True),
    ("http://localhost:8001", "localhost:8000", "http", False),
    ("https://localhost:8000", "localhost:8000", "http", False),
    ("http://evil.example:8000", "localhost:8000", "http", False),
    ("null", "localhost:8000", "http", False),
    ("http://localhost:99999", "localhost:8000", "http", False),
    ("ftp://localhost:8000", "localhost:8000", "ftp", False),
])
def test_same_origin(origin, host, scheme, same):
    assert same_origin(origin, host, scheme) is same
