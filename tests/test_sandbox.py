"""The code sandbox contains what LLM-written code tries to do, checked by its effects.

Escape tests look for what an escape would leave behind — a connection the server saw, a
secret in the output, a file on the host, a process still running — not for which modules
were imported. If one of these fails, sandboxed code can reach something it must not.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import tempfile
import textwrap
from collections.abc import Iterator

import anyio
import pytest

from optillm_core.sandbox import (
    Sandbox,
    SandboxError,
    SandboxLimits,
    SandboxOptions,
    SandboxResult,
    SandboxUnavailable,
)

FAST = SandboxLimits(timeout=10.0, cpu_seconds=10)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def python() -> str:
    """The interpreter the sandbox settled on (probing once keeps the other tests quick)."""
    isolation = anyio.run(Sandbox().probe)
    return isolation.python


@pytest.fixture
def sandbox(python: str) -> Sandbox:
    return Sandbox(FAST, SandboxOptions(python=python))


def dedent(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


def pids_of_uid(uid: int) -> set[int]:
    """Processes on the host that run as ``uid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as fh:
                    fields = dict(line.split(":", 1) for line in fh if ":" in line)
            except OSError:
                continue
            if int(fields["Uid"].split()[0]) == uid:
                found.add(int(entry))
    return found


def pids_in_namespace(link: str) -> set[int]:
    """Processes on the host whose PID namespace is ``link`` (e.g. ``pid:[4026532291]``)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == link:
                    found.add(int(entry))
            except OSError:
                continue
    return found


def pids_with(token: str) -> set[int]:
    """Processes on the host whose command line contains ``token``."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if token.encode() in fh.read():
                        found.add(int(entry))
            except OSError:
                continue
    return found


async def eventually_none(pids: set[int], *, within: float = 2.0) -> set[int]:
    """Wait until none of the sampled processes is alive; return the survivors."""
    deadline = anyio.current_time() + within
    alive = set(pids)
    while alive and anyio.current_time() < deadline:
        await anyio.sleep(0.05)
        alive = {pid for pid in alive if os.path.exists(f"/proc/{pid}")}
    return alive


@pytest.fixture
def shared_dir() -> Iterator[str]:
    """A host directory every user may write to (for markers an escapee would leave)."""
    path = tempfile.mkdtemp(prefix="optillm-sandbox-test-")
    os.chmod(path, 0o1777)
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


# --- normal behaviour -------------------------------------------------------------------


@pytest.mark.anyio
async def test_hello_world(sandbox: Sandbox) -> None:
    result = await sandbox.run("print('hello, world')")
    assert result == SandboxResult(
        exit_code=0,
        stdout="hello, world\n",
        stderr="",
        timed_out=False,
        killed=False,
        truncated=False,
        duration=result.duration,
        isolation=result.isolation,
    )
    assert result.ok
    assert 0 < result.duration < 5


@pytest.mark.anyio
async def test_exit_code_is_reported(sandbox: Sandbox) -> None:
    result = await sandbox.run("import sys\nprint('bye')\nsys.exit(3)")
    assert (result.exit_code, result.stdout, result.killed) == (3, "bye\n", False)
    assert not result.ok


@pytest.mark.anyio
async def test_exception_traceback_goes_to_stderr(sandbox: Sandbox) -> None:
    result = await sandbox.run("def f():\n    return 1 / 0\n\nf()\n")
    assert result.exit_code == 1
    assert 'File "<sandbox>", line 4, in <module>' in result.stderr
    assert "return 1 / 0" in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")


@pytest.mark.anyio
async def test_syntax_error_is_the_programs_failure(sandbox: Sandbox) -> None:
    result = await sandbox.run("def broken(:\n")
    assert result.exit_code == 1
    assert "SyntaxError" in result.stderr


@pytest.mark.anyio
async def test_stdin_is_the_programs_input_then_eof(sandbox: Sandbox) -> None:
    code = "a = input()\nb = input()\nprint(int(a) + int(b))\nimport sys\nprint(repr(sys.stdin.read()))"
    result = await sandbox.run(code, stdin="40\n2\n")
    assert result.stdout == "42\n''\n"


@pytest.mark.anyio
async def test_allowed_modules_let_named_modules_in(sandbox: Sandbox) -> None:
    code = "from fractions import Fraction\nimport math\nprint(Fraction(1, 3) + Fraction(1, 6), math.isqrt(17))"
    result = await sandbox.run(code, allowed_modules=("fractions", "math"))
    assert result.stdout == "1/2 4\n", result.stderr


@pytest.mark.anyio
async def test_third_party_modules_need_naming(sandbox: Sandbox) -> None:
    code = "import pluggy\nprint(pluggy.HookspecMarker('x').project_name)"
    refused = await sandbox.run(code)
    assert refused.exit_code == 1
    assert "import of 'pluggy' is not allowed" in refused.stderr
    allowed = await sandbox.run(code, allowed_modules=("pluggy",))
    assert allowed.stdout == "x\n", allowed.stderr


@pytest.fixture
def private_site_packages() -> Iterator[str]:
    """A site-packages directory (with one package) under a directory only root may enter,
    like a virtualenv under ``/root``."""
    top = tempfile.mkdtemp(prefix="optillm-private-venv-")
    os.chmod(top, 0o700)
    site_dir = os.path.join(top, "lib", "site-packages")
    package = os.path.join(site_dir, "optillm_sandbox_probe")
    os.makedirs(package)
    for path in (os.path.join(top, "lib"), site_dir, package):
        os.chmod(path, 0o755)
    init = os.path.join(package, "__init__.py")
    with open(init, "w") as fh:
        fh.write("import os\nVALUE = 'imported ' + os.path.basename(os.path.dirname(__file__))\n")
    os.chmod(init, 0o644)
    yield site_dir
    shutil.rmtree(top)


@pytest.mark.anyio
@pytest.mark.parametrize("private_filesystem", [True, False])
async def test_site_packages_under_a_private_directory_import(
    python: str, private_site_packages: str, private_filesystem: bool
) -> None:
    options = SandboxOptions(
        python=python, site_paths=(private_site_packages,), private_filesystem=private_filesystem
    )
    sandbox = Sandbox(FAST, options)
    code = "import optillm_sandbox_probe\nprint(optillm_sandbox_probe.VALUE)"
    result = await sandbox.run(code, allowed_modules=("optillm_sandbox_probe",))
    assert result.stdout == "imported optillm_sandbox_probe\n", result.stderr
    # The unprivileged user still cannot reach it by its own path, nor write to it.
    code = f"""
        import os
        for path in ({private_site_packages!r}, "/tmp/.optillm-site/0/optillm_sandbox_probe"):
            try:
                open(os.path.join(path, "planted.py"), "w").write("x")
                print("written")
            except OSError as exc:
                print(type(exc).__name__)
    """
    result = await sandbox.run(dedent(code), allowed_modules=("optillm_sandbox_probe",))
    assert "written" not in result.stdout, result.stdout
    assert len(result.stdout.splitlines()) == 2, result.stderr
    package = os.path.join(private_site_packages, "optillm_sandbox_probe")
    assert os.listdir(package) == ["__init__.py"]


@pytest.mark.anyio
async def test_runs_concurrently_without_blocking_the_event_loop(sandbox: Sandbox) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    results: list[SandboxResult] = []

    async def one(i: int) -> None:
        results.append(await sandbox.run(f"import time\ntime.sleep(0.6)\nprint({i})"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        async with anyio.create_task_group() as runs:
            for i in range(3):
                runs.start_soon(one, i)
        tg.cancel_scope.cancel()
    assert sorted(r.stdout for r in results) == ["0\n", "1\n", "2\n"]
    assert ticks >= 8  # the loop kept running while the programs slept


@pytest.mark.anyio
async def test_probe_is_cached_and_reports_layers(sandbox: Sandbox) -> None:
    isolation = await sandbox.probe()
    assert await sandbox.probe() is isolation
    assert await sandbox.available()
    # This host (root, util-linux unshare) must get every layer; see docs/security.md.
    assert isolation.network and isolation.pid_namespace
    assert isolation.private_tmp and isolation.read_only_fs
    if os.geteuid() == 0:
        assert isolation.privileges_dropped and isolation.uid != 0
    assert "network-namespace" in isolation.layers


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="timeout"):
        SandboxLimits(timeout=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        SandboxLimits(memory_bytes=-1)


@pytest.mark.anyio
async def test_bad_module_names_are_rejected(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="module name"):
        await sandbox.run("pass", allowed_modules=("os; import ctypes",))


# --- escapes ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_network_even_to_loopback(sandbox: Sandbox) -> None:
    connections = 0

    async def handle(stream: anyio.abc.SocketStream) -> None:
        nonlocal connections
        connections += 1
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    code = f"""
        import errno, socket
        for host in ("127.0.0.1", "localhost", "10.0.0.1"):
            try:
                socket.create_connection((host, {port}), timeout=2).close()
                print(host, "CONNECTED")
            except OSError as exc:
                print(host, errno.errorcode.get(exc.errno, exc))
    """
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        result = await sandbox.run(dedent(code))
        await anyio.sleep(0.2)
        tg.cancel_scope.cancel()
    assert "CONNECTED" not in result.stdout
    assert "127.0.0.1 ENETUNREACH" in result.stdout, result.stderr
    assert connections == 0


@pytest.mark.anyio
async def test_parent_secrets_stay_out(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-" + secrets.token_hex(8)
    monkeypatch.setenv("OPTILLM_CANARY_SECRET", canary)
    code = f"""
        import os
        print(dict(os.environ))
        for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["{os.getpid()}"]:
            for name in ("environ", "cmdline"):
                try:
                    with open(f"/proc/{{pid}}/{{name}}", "rb") as fh:
                        print(pid, name, fh.read())
                except OSError as exc:
                    print(pid, name, exc)
    """
    result = await sandbox.run(dedent(code))
    assert result.exit_code == 0, result.stderr
    assert "OPTILLM_CANARY_SECRET" not in result.stdout + result.stderr
    assert canary not in result.stdout + result.stderr
    assert "PATH" in result.stdout  # the program did print its environment


@pytest.mark.anyio
@pytest.mark.parametrize("private_filesystem", [True, False])
async def test_file_size_limit_and_workdir_removal(python: str, private_filesystem: bool) -> None:
    limits = SandboxLimits(timeout=10.0, file_size_bytes=1 << 20)
    sandbox = Sandbox(limits, SandboxOptions(python=python, private_filesystem=private_filesystem))
    code = """
        import errno, os
        print(os.getcwd(), flush=True)
        try:
            with open("big.bin", "wb") as fh:
                for _ in range(8):
                    fh.write(b"x" * (1 << 20))
                    fh.flush()
        except OSError as exc:
            print("refused", errno.errorcode[exc.errno])
        print("size", os.path.getsize("big.bin"))
    """
    result = await sandbox.run(dedent(code))
    workdir, refused, size = result.stdout.splitlines()
    assert refused == "refused EFBIG", result.stderr
    assert size == f"size {1 << 20}"
    assert not os.path.exists(workdir)  # gone from the host (or never there)


@pytest.mark.anyio
async def test_private_tmp_writes_never_reach_the_host(sandbox: Sandbox) -> None:
    name = "optillm-escape-" + secrets.token_hex(6)
    targets = [f"/tmp/{name}", f"/var/tmp/{name}", f"/dev/shm/{name}", f"/{name}"]
    code = f"""
        for path in {targets!r}:
            try:
                open(path, "w").write("escaped")
                print(path, "written")
            except OSError as exc:
                print(path, type(exc).__name__)
    """
    result = await sandbox.run(dedent(code))
    assert f"/tmp/{name} written" in result.stdout  # writable inside, private to the run
    assert f"/{name} PermissionError" in result.stdout or f"/{name} OSError" in result.stdout
    assert not [p for p in targets if os.path.exists(p)]


@pytest.mark.anyio
async def test_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    limits = SandboxLimits(timeout=2.0, max_processes=16)
    # As root, a uid of its own (unlisted in /etc/passwd) keeps this bomb's process count
    # apart from other sandbox runs, and makes its leftovers easy to find.
    options = sandbox.options
    if os.geteuid() == 0:
        options = dataclasses.replace(options, user=3_000_000_000 + secrets.randbelow(10**6))
    bomb = Sandbox(limits, options)
    isolation = await bomb.probe()
    assert isolation.uid == options.user or os.geteuid() != 0
    code = """
        import os, time
        print(os.readlink("/proc/self/ns/pid"), flush=True)
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
        except OSError as exc:
            print("fork refused after", children, flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    started = anyio.current_time()
    result = await bomb.run(dedent(code))
    assert anyio.current_time() - started < limits.timeout + 2
    assert result.timed_out and result.killed
    namespace, refused = result.stdout.splitlines()[:2]
    count = int(refused.removeprefix("fork refused after "))
    assert 0 < count < limits.max_processes
    assert namespace.startswith("pid:[")
    assert await eventually_none(pids_in_namespace(namespace)) == set()
    if os.geteuid() == 0:
        assert pids_of_uid(isolation.uid) == set()
    assert (await sandbox.run("print('still fine')")).stdout == "still fine\n"


@pytest.mark.anyio
async def test_infinite_loop_is_killed_at_the_timeout(sandbox: Sandbox) -> None:
    started = anyio.current_time()
    result = await sandbox.run("print('spinning', flush=True)\nwhile True:\n    pass", timeout=1.0)
    elapsed = anyio.current_time() - started
    assert result.timed_out and result.killed
    assert result.exit_code < 0
    assert result.stdout == "spinning\n"  # output before the kill is kept
    assert elapsed < 2.0


@pytest.mark.anyio
async def test_cpu_limit_kills_a_spinning_program(python: str) -> None:
    sandbox = Sandbox(SandboxLimits(timeout=10.0, cpu_seconds=1), SandboxOptions(python=python))
    result = await sandbox.run("while True:\n    pass")
    assert result.killed and not result.timed_out
    assert result.duration < 5


@pytest.mark.anyio
async def test_huge_allocation_fails_inside_the_sandbox(sandbox: Sandbox) -> None:
    result = await sandbox.run("block = bytearray(8 * 1024**3)\nprint(len(block))")
    assert result.exit_code != 0
    assert "MemoryError" in result.stderr or result.killed
    assert result.stdout == ""


@pytest.mark.anyio
async def test_output_flood_is_capped(sandbox: Sandbox) -> None:
    code = """
        import sys
        chunk = "x" * (1 << 20)
        for _ in range(100):
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
        print("done", file=sys.stderr)
    """
    started = anyio.current_time()
    result = await sandbox.run(dedent(code))
    assert result.exit_code == 0
    assert result.truncated
    assert len(result.stdout) == len(result.stderr) == sandbox.limits.output_bytes
    assert anyio.current_time() - started < 5


@pytest.mark.anyio
async def test_ctypes_is_refused_and_could_not_write_to_the_host_anyway(sandbox: Sandbox) -> None:
    marker = f"/tmp/optillm-ctypes-{secrets.token_hex(6)}"
    code = f"""
        import importlib
        for attempt in ("import ctypes", "__import__('ctypes')", "importlib.import_module('ctypes')"):
            try:
                exec(attempt)
                print(attempt, "imported")
            except ImportError as exc:
                print(attempt, "refused")
        import ctypes
        ctypes.CDLL(None).system(b"touch {marker}")
    """
    refused = await sandbox.run(dedent(code))
    assert refused.stdout.count("refused") == 3, refused.stdout
    assert "not allowed" in refused.stderr
    # With the filter waived by name, system() runs, but only inside the private /tmp.
    allowed = await sandbox.run(
        dedent(code) + f"print(open('{marker}').read() == '')", allowed_modules=("ctypes",)
    )
    assert allowed.stdout.endswith("True\n"), allowed.stderr
    assert not os.path.exists(marker)


DAEMON = """
    import os, sys
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.set_inheritable(w, True)
            os.execv(sys.executable, [sys.executable, "-c", {live!r}, str(w), {marker!r}, {token!r}])
        os._exit(0)
    os.close(w)
    os.wait()
    print("daemon says", os.read(r, 16).decode())
"""
# The escaped grandchild: reports that it is alive, then writes a marker a second later.
LIVE = (
    "import os, sys, time; w = int(sys.argv[1]); os.write(w, b'alive'); os.close(w); "
    "time.sleep(1.0); open(sys.argv[2], 'w').write('escaped')"
)


async def assert_daemon_dies(sandbox: Sandbox, shared_dir: str) -> None:
    token = "daemon-" + secrets.token_hex(8)
    marker = os.path.join(shared_dir, token)
    code = DAEMON.format(live=LIVE, marker=marker, token=token)
    result = await sandbox.run(dedent(code))
    assert result.stdout == "daemon says alive\n", result.stderr  # it did start
    await anyio.sleep(1.5)  # long enough for a surviving daemon to write its marker
    assert not os.path.exists(marker)
    assert pids_with(token) == set()


@pytest.mark.anyio
async def test_daemon_does_not_outlive_the_run(python: str, shared_dir: str) -> None:
    # private_filesystem=False so the marker directory on the host is visible inside.
    options = SandboxOptions(python=python, private_filesystem=False)
    await assert_daemon_dies(Sandbox(FAST, options), shared_dir)


@pytest.mark.anyio
async def test_cancellation_kills_the_whole_tree(sandbox: Sandbox) -> None:
    token = "cancelled-" + secrets.token_hex(8)
    code = f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(30)", {token!r}])
        time.sleep(30)
    """
    async with anyio.create_task_group() as tg:
        tg.start_soon(sandbox.run, dedent(code))
        with anyio.fail_after(5):
            while not pids_with(token):  # wait until the escaped child is really running
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    with anyio.fail_after(2):
        while pids_with(token):
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_no_descriptors_leak_into_the_proxy(sandbox: Sandbox) -> None:
    await sandbox.run("pass")
    before = set(os.listdir("/proc/self/fd"))
    await sandbox.run("print('x')")
    await sandbox.run("while True:\n    pass", timeout=0.5)
    with anyio.move_on_after(0.3):
        await sandbox.run("import time\ntime.sleep(5)")
    for _ in range(20):  # asyncio closes a finished transport's pipes a loop turn later
        if set(os.listdir("/proc/self/fd")) == before:
            break
        await anyio.sleep(0.05)
    assert set(os.listdir("/proc/self/fd")) == before


# --- without network isolation ----------------------------------------------------------


@pytest.mark.anyio
async def test_without_namespaces_execution_is_refused(python: str, shared_dir: str) -> None:
    sandbox = Sandbox(FAST, SandboxOptions(python=python, namespaces=False))
    assert not await sandbox.available()
    assert not (await sandbox.probe()).network
    marker = os.path.join(shared_dir, "ran")
    with pytest.raises(SandboxUnavailable, match="allow_no_network_isolation") as caught:
        await sandbox.run(f"open({marker!r}, 'w').write('ran')")
    assert caught.value.to_dict()["error"]["code"] == "sandbox_unavailable"
    assert not os.path.exists(marker)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "options", [SandboxOptions(user="no-such-user-here"), SandboxOptions(python="/nonexistent")]
)
async def test_setup_failure_raises_sandbox_error(options: SandboxOptions) -> None:
    sandbox = Sandbox(FAST, options)
    assert not await sandbox.available()
    with pytest.raises(SandboxError) as caught:
        await sandbox.run("print('x')")
    assert caught.value.status == 500
    assert "/nonexistent" not in caught.value.message  # host details stay in the log


@pytest.mark.anyio
async def test_operator_waiver_runs_in_a_plain_process(
    python: str, shared_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTILLM_CANARY_SECRET", "waived-canary")
    options = SandboxOptions(python=python, namespaces=False, allow_no_network_isolation=True)
    sandbox = Sandbox(FAST, options)
    result = await sandbox.run("import os\nprint(sorted(os.environ))")
    assert result.exit_code == 0, result.stderr
    assert not result.isolation.network and result.isolation.mode == "process"
    assert "OPTILLM_CANARY_SECRET" not in result.stdout
    # Escaped descendants are still tracked down and killed.
    await assert_daemon_dies(sandbox, shared_dir)
