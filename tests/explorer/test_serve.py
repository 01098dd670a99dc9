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
    finally:
        taken.close()
    assert f"port {port} is in use" in line
    assert "give another --port, or 0" in line


@pytest.mark.parametrize("name", ["a b", "http://mybox.local", "host:port", ""])
def test_allow_host_takes_host_names_only(name):
    assert f"--allow-host {name!r} is not a host name" in refused("--allow-host", name, "--port", "0")


@pytest.mark.parametrize(("name", "said"), [
    ("*", "a pattern would let any web page under it use the server"),
    ("*.local", "a pattern would let any web page under it use the server"),
    ("fe80::1", "an IPv6 address goes in brackets, as a browser's address bar shows it: --allow-host '[fe80::1]'"),
    ("mybox.local:\u00b2", "is not a host name"),  # "²".isdigit() is true: int() of it was a traceback
    ("evil.example:abc", "is not a host name"),
])
def test_allow_host_refuses_what_no_browser_would_match_naming_the_fix(name, said):
    # --host 999.1.1.1: a command that took the value would stop at the address, not serve
    assert said in refused("--allow-host", name, "--host", "999.1.1.1", "--port", "0")


@pytest.fixture(scope="module")
def model_folder(trained) -> str:
    return str(trained)


@pytest.mark.parametrize(("host", "printed", "also"), [
    ("0.0.0.0", "http://127.0.0.1:", ["0.0.0.0", "localhost"]),  # connecting to the wildcard reaches this machine
    ("::", "http://[::1]:", ["[::]", "localhost"]),
    ("[::1]", "http://[::1]:", ["localhost"]),  # the bracketed form, as addresses are printed
])
def test_the_printed_address_is_one_a_browser_here_can_open(model_folder, host, printed, also):
    """--host 0.0.0.0 printed http://0.0.0.0:PORT, and that address (Host: 0.0.0.0:PORT) was refused
    with 421; --host '[::1]' was not an address at all."""
    import http.client
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    from tests.conftest import ONE_THREAD, REPO

    process = subprocess.Popen([sys.executable, "-m", "textgen.cli", "serve", model_folder, "--host", host, "--port", "0"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    try:
        lines = [process.stderr.readline()]
        while "textgen explorer:" not in lines[-1]:
            assert lines[-1], lines
            lines.append(process.stderr.readline())
        address = re.search(r"textgen explorer: (\S+)", lines[-1]).group(1)
        port = int(address.rsplit(":", 1)[1])
        with urllib.request.urlopen(address + "/api/models", timeout=10) as answer:
            assert answer.status == 200
        for name in also:
            connection = http.client.HTTPConnection(address.split("//")[1].rsplit(":", 1)[0].strip("[]"), port, timeout=10)
            connection.request("GET", "/api/models", headers={"Host": f"{name}:{port}"})
            assert connection.getresponse().status == 200, name
            connection.close()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        rest = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert address.startswith(printed) and code == 143 and rest == "terminated\n"
    if host in ("0.0.0.0", "::"):
        assert len(lines) == 2 and "every address of this machine" in lines[0] and "--allow-host NAME" in lines[0]


@pytest.mark.parametrize(("sent", "code", "said"), [("SIGINT", 130, "interrupted\n"), ("SIGTERM", 143, "terminated\n")])
def test_work_still_inside_the_model_after_the_stop_ends_the_process_at_once_with_its_line(sent, code, said):
    """A thread that did not leave the model within the stop's time would abort the interpreter's
    exit (exit 134): the command ends the process itself, with the signal's line and code."""
    import subprocess
    import sys

    from tests.conftest import ONE_THREAD, REPO

    script = f"""
import signal, threading, time
from textgen.cli.serve import exit_after
from textgen.explorer.work import Work

work, inside = Work(), threading.Event()

def busy():
    with work.inside(lambda: None):
        inside.set()
        time.sleep(60)

threading.Thread(target=busy, daemon=True).start()
inside.wait()
exit_after(signal.{sent}, work)
print("not reached")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=ONE_THREAD, capture_output=True, text=True,
                            timeout=30)
    assert (result.returncode, result.stderr, result.stdout) == (code, said, "")


@pytest.mark.parametrize(("sent", "raised"), [("SIGINT", KeyboardInterrupt), ("SIGTERM", "Terminated")])
def test_a_signal_a_library_swallows_while_the_models_load_still_stops_the_command(sent, raised):
    """torch's import of numpy catches every exception from it: a Ctrl-C in that moment was lost and
    the server started anyway. While the command starts, a signal is remembered and raised again."""
    import os
    import signal
    import time

    from textgen.cli.common import Terminated
    from textgen.cli.serve import signals_while_starting

    raised = Terminated if raised == "Terminated" else raised
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(raised):
        with signals_while_starting():
            try:
                os.kill(os.getpid(), getattr(signal, sent))
                time.sleep(1)  # the handler raises here
            except BaseException:  # noqa: BLE001 - what the library does
                pass
    assert {sig: signal.getsignal(sig) for sig in before} == before
