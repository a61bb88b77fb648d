"""Run a script on several processes with torchrun, read back what each process returns, clean up always.

Notebook side: `run_torchrun(script, nproc, inputs)` puts `inputs` in a private folder, starts
`python -m torch.distributed.run --nnodes 1 --nproc-per-node NPROC script` (torchrun), waits and
returns each rank's result. Script side: `run_worker(main)` calls `main(inputs, rank, world_size)`
in every process torchrun starts and sends its return value back (or its error).

No process outlives a launch, whatever happens: the script raises (its traceback is shown), it
hangs (stopped after `timeout` seconds), the cell is interrupted, or the launcher dies.
- torchrun runs in its own process group; at the end of every launch it gets SIGTERM (it then
  stops its workers), and SIGKILL if it is still alive after a grace period;
- every worker writes its process id first thing; workers still alive then are killed too;
- on Linux torchrun dies with the notebook's kernel (PR_SET_PDEATHSIG), and every worker watches
  its launcher and exits when it is gone.
Processes may not be started while a notebook is graded (the sandbox refuses): notebooks skip
their launch cells then (`dlcourse.device.is_grading()`).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

RUN_DIR_ENV = "DLCOURSE_TORCHRUN_DIR"
GRACE_SECONDS = 5.0
# torchrun started through this bootstrap: on Linux it asks to get SIGTERM when its parent (the
# kernel) dies, and quits at once if the parent is already gone.
_BOOTSTRAP = """\
import ctypes, os, runpy, signal, sys
parent = int(sys.argv.pop(1))
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit("the launching process is gone")
sys.argv[0] = "torchrun"
runpy.run_module("torch.distributed.run", run_name="__main__")
"""


class LaunchFailed(RuntimeError):
    """A torchrun launch did not finish: a worker raised, it ran past its time limit, or torchrun failed."""


@dataclass
class LaunchResult:
    """What a launch returned: each rank's result (rank order), its wall-clock seconds, what it printed."""

    results: list[Any]
    seconds: float
    log: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (a finished process nobody has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else: not one of ours any more
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def worker_pids(run_dir: Path) -> list[int]:
    """The process ids the workers of a launch wrote into its folder."""
    pids = []
    for path in sorted(Path(run_dir).glob("rank*.pid")):
        try:
            pids.append(int(path.read_text()))
        except (OSError, ValueError):  # being written
            continue
    return pids


def _kill_group(pid: int, sig: int) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(pid, sig)
        else:  # Windows: no process groups to signal
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(process: subprocess.Popen, run_dir: Path) -> None:
    """End torchrun and every worker of this launch (a no-op for those that already ended)."""
    if process.poll() is None:
        _kill_group(process.pid, signal.SIGTERM)  # torchrun stops its workers on SIGTERM
        try:
            process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
            process.wait()
    deadline = time.monotonic() + GRACE_SECONDS
    while any(_alive(pid) for pid in worker_pids(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in worker_pids(run_dir):  # workers run in their own sessions: pid is their group
        if _alive(pid):
            _kill_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def _worker_errors(run_dir: Path) -> str:
    texts = [f"rank {path.stem.removeprefix('rank')}:\n{path.read_text()}"
             for path in sorted(run_dir.glob("rank*.error"))]
    return "\n".join(texts)


def run_torchrun(script: str | os.PathLike, nproc: int = 2, inputs: Any = None,
                 timeout: float = 120.0) -> LaunchResult:
    """Run `script` on `nproc` processes of this machine with torchrun and return what each returned.

    script: a Python file whose workers call `run_worker(main)`; inputs: any picklable value (tensors
    included), handed to every worker's `main`; timeout: seconds before the launch is stopped.
    Returns LaunchResult(results, seconds, log): results[r] is rank r's return value.
    Raises LaunchFailed (with the worker's traceback, or the end of torchrun's output) when a worker
    raised, the launch ran past `timeout`, or torchrun failed; the processes are gone by then.
    """
    script = Path(script).resolve()
    if not script.is_file():
        raise FileNotFoundError(f"no script {script}: give the path of a Python file that calls run_worker(main)")
    if int(nproc) < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    run_dir = Path(tempfile.mkdtemp(prefix="dlcourse-torchrun-"))
    try:
        with open(run_dir / "inputs.pkl", "wb") as handle:
            pickle.dump(inputs, handle, protocol=pickle.HIGHEST_PROTOCOL)
        command = [sys.executable, "-c", _BOOTSTRAP, str(os.getpid()), "--nnodes", "1",
                   "--nproc-per-node", str(int(nproc)), "--master-addr", "127.0.0.1",
                   "--master-port", str(_free_port()), "--max-restarts", "0", str(script)]
        library = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, RUN_DIR_ENV: str(run_dir), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
               "PYTHONPATH": os.pathsep.join(filter(None, [library, os.environ.get("PYTHONPATH")])),
               "PYTHONUNBUFFERED": "1", "TORCHELASTIC_ERROR_FILE": str(run_dir / "torchrun.error")}
        start = time.perf_counter()
        with open(run_dir / "log.txt", "w") as log:
            try:
                process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            except PermissionError as error:
                raise LaunchFailed(f"this environment may not start processes ({error}); the autograder's "
                                   "sandbox refuses them: run this cell in JupyterLab") from None
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise LaunchFailed(f"the launch ran past its {timeout:g} s limit and was stopped "
                                   f"(a worker waiting for another that is gone?)\n{_worker_errors(run_dir)}") from None
            finally:
                _stop(process, run_dir)
        seconds = time.perf_counter() - start
        log_text = (run_dir / "log.txt").read_text(errors="replace")
        errors = _worker_errors(run_dir)
        if errors:
            raise LaunchFailed(f"a worker raised an exception:\n{errors}")
        if code != 0:
            raise LaunchFailed(f"torchrun exited with status {code}; the end of its output:\n{log_text[-3000:]}")
        results = []
        for rank in range(int(nproc)):
            with open(run_dir / f"rank{rank}.pkl", "rb") as handle:
                results.append(pickle.load(handle))
        return LaunchResult(results, seconds, log_text)
    finally:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)


# ------------------------------------------------------------------------- the workers' side
def _watch_launcher(parent: int) -> None:
    """End this worker when its launcher (torchrun) is gone: it would wait for it forever."""
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(1)


def run_worker(main: Callable[[Any, int, int], Any]) -> None:
    """The body of a script that `run_torchrun` launches: `main(inputs, rank, world_size)` in each process.

    Its return value (picklable) goes back to `run_torchrun`; an exception is written down for it
    (its traceback) and the worker exits with status 1. Reads RANK and WORLD_SIZE set by torchrun.
    Does not return: the process ends when `main` does.
    """
    run_dir = Path(os.environ[RUN_DIR_ENV])
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    (run_dir / f"rank{rank}.pid").write_text(str(os.getpid()))
    threading.Thread(target=_watch_launcher, args=(os.getppid(),), daemon=True).start()
    try:
        with open(run_dir / "inputs.pkl", "rb") as handle:
            inputs = pickle.load(handle)
        result = main(inputs, rank, world_size)
        partial = run_dir / f"rank{rank}.pkl.partial"
        with open(partial, "wb") as handle:
            pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(run_dir / f"rank{rank}.pkl")
        status = 0
    except BaseException:  # noqa: BLE001 (whatever stops the worker is reported)
        (run_dir / f"rank{rank}.error").write_text(traceback.format_exc())
        status = 1
    # End here, without the interpreter's clean-up: gloo's C++ threads can abort the process while
    # Python shuts down (a known PyTorch issue), and everything this worker had to say is written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
