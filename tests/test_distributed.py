"""dlcourse.distributed: torchrun launches come back with every rank's result, and leave no process behind.

Each test starts real processes with torchrun (a few seconds each: torchrun imports torch). The
workers of most tests are plain Python and write their process id where the test can read it, so
that the test can check that none of them is alive after the launch, whatever ended it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import _thread
from pathlib import Path

import pytest
import torch

from dlcourse import ddp_train
from dlcourse.distributed import LaunchFailed, _alive, run_torchrun

LIB = str(Path(__file__).resolve().parents[1] / "lib")


def script(tmp_path: Path, body: str) -> Path:
    """A worker script: `main(inputs, rank, world_size)` whose first line records the worker's pid."""
    path = tmp_path / "worker.py"
    path.write_text(textwrap.dedent("""\
        import os, time
        from pathlib import Path
        from dlcourse.distributed import run_worker

        def main(inputs, rank, world_size):
            Path(inputs["pid_dir"], f"{rank}.pid").write_text(str(os.getpid()))
        """) + textwrap.indent(textwrap.dedent(body), "    ") + "\n\nrun_worker(main)\n")
    return path


def worker_pids(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in folder.glob("*.pid")]


def wait_for_pids(folder: Path, count: int, seconds: float = 120.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while len(list(folder.glob("*.pid"))) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return worker_pids(folder)


def assert_all_gone(pids: list[int], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], "a worker outlived its launch"


def test_results_come_back_in_rank_order(tmp_path):
    path = script(tmp_path, 'return {"rank": rank, "world": world_size, "value": inputs["value"] * (rank + 1)}')
    launch = run_torchrun(path, nproc=2, inputs={"pid_dir": str(tmp_path), "value": 21}, timeout=180)
    assert launch.results == [{"rank": 0, "world": 2, "value": 21}, {"rank": 1, "world": 2, "value": 42}]
    assert launch.seconds > 0
    assert_all_gone(worker_pids(tmp_path))


def test_a_worker_that_raises_is_reported_and_the_others_are_stopped(tmp_path):
    path = script(tmp_path, """\
        if rank == 1:
            raise ValueError("broken on purpose")
        time.sleep(600)                               # rank 0 would wait for rank 1 forever
        """)
    with pytest.raises(LaunchFailed, match=r"(?s)rank 1.*ValueError: broken on purpose"):
        run_torchrun(path, nproc=2, inputs={"pid_dir": str(tmp_path)}, timeout=180)
    assert_all_gone(worker_pids(tmp_path))


def test_a_launch_past_its_time_limit_is_stopped(tmp_path):
    path = script(tmp_path, "time.sleep(600)")
    with pytest.raises(LaunchFailed, match="ran past its 20 s limit"):
        run_torchrun(path, nproc=2, inputs={"pid_dir": str(tmp_path)}, timeout=20)
    assert_all_gone(worker_pids(tmp_path))


def test_an_interrupted_cell_leaves_no_process(tmp_path):
    path = script(tmp_path, "time.sleep(600)")

    def interrupt_when_started():
        wait_for_pids(tmp_path, 2)
        _thread.interrupt_main()                      # what Jupyter's "interrupt the kernel" does

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_torchrun(path, nproc=2, inputs={"pid_dir": str(tmp_path)}, timeout=300)
    pids = worker_pids(tmp_path)
    assert len(pids) == 2
    assert_all_gone(pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="torchrun dies with its launcher on Linux only")
def test_workers_die_with_the_kernel_that_launched_them(tmp_path):
    path = script(tmp_path, "time.sleep(600)")
    kernel = subprocess.Popen([sys.executable, "-c", "import sys; from dlcourse.distributed import run_torchrun; "
                               f"run_torchrun({str(path)!r}, 2, {{'pid_dir': {str(tmp_path)!r}}}, timeout=300)"],
                              env={**os.environ, "PYTHONPATH": LIB}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        pids = wait_for_pids(tmp_path, 2)
        assert len(pids) == 2
        kernel.kill()                                  # the kernel dies without cleaning up
        kernel.wait()
        assert_all_gone(pids, seconds=30)
    finally:
        kernel.kill()


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="calls run_worker"):
        run_torchrun(tmp_path / "missing.py")
    with pytest.raises(ValueError, match="nproc must be at least 1"):
        run_torchrun(script(tmp_path, "return 0"), nproc=0)


def test_ddp_and_the_all_reduce_by_hand_give_the_parameters_of_one_process(tmp_path):
    torch.manual_seed(0)
    sizes, steps = [8, 6, 3], 3
    model = ddp_train.build_mlp(sizes)
    x, y = torch.randn(steps, 4, 8), torch.randint(0, 3, (steps, 4))
    launch = run_torchrun(ddp_train.__file__, nproc=2, timeout=300,
                          inputs={"sizes": sizes, "state_dict": model.state_dict(), "x": x, "y": y, "lr": 0.5})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for x_batch, y_batch in zip(x, y):                     # one process on the whole batches
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x_batch), y_batch).backward()
        optimizer.step()
    assert launch.results[0]["backend"] in ("gloo", "nccl")
    for result in launch.results:
        for mode in ("by_hand", "ddp"):
            for got, want in zip(result[mode]["params"], model.parameters()):
                torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-6)
            assert len(result[mode]["losses"]) == steps and result[mode]["seconds_per_step"] > 0
