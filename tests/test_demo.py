"""`oncofed demo` as a user runs it: a live federation of a hub and three node processes that a
notebook finds, stopped by Ctrl-C or SIGTERM with nothing left running; `--smoke` runs a
researcher's session against it and exits 0 only when every step answered as expected."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO

from oncofed import demo as demo_mod
from oncofed.client.federation import Federation, FederationError

EXE = os.path.join(os.path.dirname(sys.executable), "oncofed")
STEPS = ["catalogue search", "count", "Kaplan–Meier", "Cox", "Beacon query", "access request", "provenance"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has ended; only its parent has not reaped it yet
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_smoke_scenario_passes_against_the_live_demo(tmp_path):
    done = subprocess.run([EXE, "demo", "--smoke", "--json", "--dir", str(tmp_path / "demo")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and [s["name"] for s in report["steps"]] == STEPS
    assert all(s["ok"] for s in report["steps"]), report
    km = next(s["said"] for s in report["steps"] if s["name"] == "Kaplan–Meier")
    assert int(re.match(r"(\d+)\+ time points in each of 2 curves", km)[1]) >= demo_mod.MIN_TIME_POINTS >= 10, km
    assert not (tmp_path / "demo" / "demo.json").exists()  # stopped: no running demo left to find


@pytest.fixture
def demo(tmp_path):
    """`oncofed demo` in a session of its own (as in a terminal), once it is ready; killed
    (with everything in its session) if a test leaves it running."""
    folder = tmp_path / "demo"
    process = subprocess.Popen([EXE, "demo", "--dir", str(folder), "--port", "0"], cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 180
    while not (folder / "demo.json").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the demo did not start"
        time.sleep(0.2)
    state = json.loads((folder / "demo.json").read_text())
    yield process, folder, state
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("stop", ["SIGTERM to the demo", "Ctrl-C to its process group"])
def test_the_live_demo_serves_a_notebook_until_stopped_and_leaves_nothing_running(demo, stop):
    process, folder, state = demo
    assert set(state["processes"]) == {"hub", "demo-de", "demo-nl", "demo-fr"}
    assert set(state["logins"]) == {"researcher", "dac", "steward"}
    assert oct((folder / "demo.json").stat().st_mode & 0o777) == "0o600"  # it holds login tokens
    with Federation.connect_demo(folder) as fed:  # as a notebook does
        result = fed.count()
        assert set(result.per_node.status) == {"ok"} and result.count > 4000
        transports = dict(zip(fed.nodes()["id"], fed.nodes()["transport"]))
        assert transports == {"demo-de": "direct", "demo-nl": "relay", "demo-fr": "direct"}
        assert "demo-nl/hcc1187" in fed.datasets("breast").index  # harvested over the relay
    assert all(alive(pid) for pid in state["processes"].values())
    second = subprocess.run([EXE, "demo", "--dir", str(folder), "--port", "0"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 1 and f"a demo is running in {folder}" in second.stderr
    assert json.loads((folder / "demo.json").read_text())["pid"] == state["pid"]  # untouched
    if stop.startswith("SIGTERM"):
        process.send_signal(signal.SIGTERM)
    else:
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    assert process.wait(60) == 0
    out, err = process.communicate()
    assert "portal: http://127.0.0.1:" in out and state["logins"]["researcher"]["token"] in out
    assert "Traceback" not in err
    assert [name for name, pid in state["processes"].items() if alive(pid)] == []
    assert not (folder / "demo.json").exists()
    with pytest.raises(FederationError, match="no running demo"):
        Federation.connect_demo(folder)

