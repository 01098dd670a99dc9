"""`textgen serve`'s refusals before it serves: an address that is not one, or not this machine's,
a port in use, an --allow-host that is not a host name; each is one line naming what to change."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from textgen.cli import cli


def refused(*args: str) -> str:
    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("host", ["999.1.1.1", "1.2.3", "256.0.0.1"])
def test_an_invalid_address_is_named_as_such_not_a_port_problem(host):
    line = refused("--host", host, "--port", "0")
    assert f"--host {host} is not a valid IPv4 address" in line and "--port" not in line
    assert "127.0.0.1 (this machine only)" in line


def test_an_address_of_another_machine_is_named_as_such():
    line = refused("--host", "192.0.2.1", "--port", "0")  # TEST-NET-1: never an address of this machine
    assert "--host 192.0.2.1 is not an address of this machine" in line and "--port" not in line


def test_a_name_nobody_knows_is_named_as_such():
    line = refused("--host", "no-such-host.invalid", "--port", "0")
    assert "is not an address or a name this machine knows" in line


def test_a_port_in_use_advises_another_port():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = str(taken.getsockname()[1])
        line = refused("--port", port)
        assert f"port {port} is in use" in line and "give another --port, or 0" in line
    finally:
        taken.close()


@pytest.mark.parametrize("name", ["a b", "http://mybox.local", "host:port", ""])
def test_allow_host_takes_host_names_only(name):
    assert f"--allow-host {name!r} is not a host name" in refused("--allow-host", name, "--port", "0")
