"""The supervisor with real child processes: restart with doubling backoff, groups, changed specs, stop by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rdi.control.supervisor import ChildSpec, Supervisor

SLEEPER = (sys.executable, "-c", "import time; time.sleep(600)")
STUBBORN = (sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)")
QUITTER = (sys.executable, "-c", "raise SystemExit(3)")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_child_that_exits_is_restarted_after_a_doubling_backoff() -> None:
    clock = Clock()
    sup = Supervisor(backoff_s=1.0, backoff_max_s=8.0, clock=clock)
    sup.apply([ChildSpec("q", "collector", QUITTER)])
    starts = []
    for _ in range(5):
        child = sup.children["q"]
        assert child.process is not None
        child.process.wait()
        sup.poll()  # reaps the exit, schedules the restart
        starts.append(child.next_start - clock.now)
        clock.now = child.next_start
        sup.poll()  # due: started again
    sup.stop_all()
    assert (starts, child.restarts) == ([1.0, 2.0, 4.0, 8.0, 8.0], 5)


def test_an_exit_is_reported_with_its_status_until_the_restart() -> None:
    clock = Clock()
    sup = Supervisor(clock=clock)
    sup.apply([ChildSpec("q", "collector", QUITTER)])
    child = sup.children["q"]
    assert child.process is not None
    child.process.wait()
    sup.poll()
    message = "exited with status 3 after 0.0 s; restarting in 1 s"
    assert (child.status, child.pid, child.message) == ("restarting", None, message)


def test_stop_sends_sigterm_by_pid_then_sigkill_when_ignored() -> None:
    sup = Supervisor(stop_timeout_s=0.5)
    sup.apply([ChildSpec("polite", "processor", SLEEPER), ChildSpec("stubborn", "collector", STUBBORN)])
    pids = {name: c.pid for name, c in sup.children.items()}
    time.sleep(0.5)  # let the stubborn one install its SIGTERM handler
    sup.stop_all()
    assert ([_alive(p) for p in pids.values() if p], sup.children) == ([False, False], {})


def test_a_changed_spec_restarts_only_that_child() -> None:
    sup = Supervisor()
    a, b = ChildSpec("a", "collector", SLEEPER, env={"X": "1"}), ChildSpec("b", "collector", SLEEPER)
    sup.apply([a, b])
    before = {n: c.pid for n, c in sup.children.items()}
    sup.apply([ChildSpec("a", "collector", SLEEPER, env={"X": "2"}), b])
    after = {n: c.pid for n, c in sup.children.items()}
    sup.stop_all()
    assert (after["a"] != before["a"], after["b"] == before["b"], _alive(before["a"] or 0)) == (True, True, False)


def test_when_one_member_of_a_group_dies_the_group_restarts_together() -> None:
    clock = Clock()
    sup = Supervisor(clock=clock)
    sup.apply([ChildSpec(f"p{i}", "processor", SLEEPER, group="processor") for i in range(2)])
    first = {n: c.pid for n, c in sup.children.items()}
    os.kill(first["p0"] or 0, signal.SIGKILL)
    _until(lambda: sup.children["p0"].process is not None and sup.children["p0"].process.poll() is not None)
    sup.poll()
    stopped = {n: c.status for n, c in sup.children.items()}
    clock.now += 1.0
    sup.poll()
    second = {n: c.pid for n, c in sup.children.items()}
    sup.stop_all()
    assert stopped == {"p0": "restarting", "p1": "restarting"}
    assert (_alive(first["p1"] or 0), all(second[n] not in (None, first[n]) for n in first)) == (False, True)


def test_children_die_with_a_killed_supervisor() -> None:
    code = (
        "import sys, time; from rdi.control.supervisor import ChildSpec, Supervisor; s = Supervisor(); "
        f"s.apply([ChildSpec('c', 'collector', {SLEEPER!r})]); print(s.children['c'].pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    parent.stdout.close()
    _until(lambda: not _alive(child_pid) or _zombie(child_pid))
    assert not _alive(child_pid) or _zombie(child_pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_a_crash_looping_child_counts_as_failing_once_down_long_enough() -> None:
    clock = Clock()
    sup = Supervisor(backoff_s=1.0, backoff_max_s=8.0, clock=clock)
    sup.apply([ChildSpec("q", "collector", QUITTER), ChildSpec("s", "collector", SLEEPER)])
    failing = []
    for _ in range(5):
        child = sup.children["q"]
        assert child.process is not None
        child.process.wait()
        sup.poll()
        failing.append([c.spec.name for c in sup.failing(10.0)])
        clock.now = child.next_start
        sup.poll()
    sup.stop_all()
    assert failing == [[], [], [], [], ["q"]]  # down since t=0, seen exiting at 0, 1, 3, 7, 15 s
