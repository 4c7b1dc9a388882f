"""Where jobs run. The supervisor only sees :class:`Executor` and :class:`RunningJob`."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from abc import ABC, abstractmethod
from multiprocessing.connection import Connection

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.workers.child import child_main, worker_niceness
from embodied_ai_architect.workers.protocol import JobSpec, WorkerMessage


class RunningJob(ABC):
    """A started job: its messages, whether it ended, and how to stop it."""

    job_id: str

    @property
    @abstractmethod
    def pid(self) -> int | None: ...

    @abstractmethod
    def receive(self) -> tuple[list[WorkerMessage], bool]:
        """Messages available now, and whether the job's channel is closed (it ended)."""

    @abstractmethod
    def exit_reason(self) -> str | None:
        """Why the worker ended without sending a result (None when it exited cleanly)."""

    @abstractmethod
    def terminate(self, grace_s: float = 3.0) -> None:
        """Stop the job: polite first, forceful after ``grace_s``."""


class Executor(ABC):
    """Starts jobs; ``capacity`` of them may run at once. ``name`` is recorded on every job."""

    capacity: int
    name: str = "local"

    @abstractmethod
    def launch(self, spec: JobSpec) -> RunningJob: ...

    def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release executor resources (running jobs are terminated by the supervisor)."""


def describe_exit(exitcode: int | None) -> str | None:
    if exitcode == 0:
        return None
    if exitcode is None:
        return "the worker process is gone and its exit status is unknown"
    if exitcode < 0:
        sig = signal.Signals(-exitcode)
        why = {
            signal.SIGKILL: "killed (out of memory, by the OS OOM killer, or by an operator)",
            signal.SIGXCPU: "stopped for exceeding its CPU-time limit (EAA_JOB_CPU_SECONDS)",
            signal.SIGSEGV: "crashed with a segmentation fault (a native library failed)",
            signal.SIGTERM: "terminated",
        }.get(sig, "stopped by a signal")
        return f"worker process {why} [{sig.name}]"
    return f"worker process exited with status {exitcode} before reporting a result"


class _LocalRunningJob(RunningJob):
    def __init__(self, job_id: str, process: multiprocessing.process.BaseProcess, conn: Connection):
        self.job_id = job_id
        self._process = process
        self.conn = conn
        self._closed = False

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def receive(self) -> tuple[list[WorkerMessage], bool]:
        messages: list[WorkerMessage] = []
        if self._closed:
            return messages, True
        try:
            while self.conn.poll():
                messages.append(self.conn.recv())
        except (EOFError, OSError):
            # The worker closed its end: it finished or died. Reap it so no zombie remains.
            self._closed = True
            self.conn.close()
            self._process.join(timeout=10)
        return messages, self._closed

    def exit_reason(self) -> str | None:
        if self._process.is_alive():
            self._process.join(timeout=10)
        return describe_exit(self._process.exitcode)

    def terminate(self, grace_s: float = 3.0) -> None:
        pid = self._process.pid
        if pid is None or not self._process.is_alive():
            return
        _signal_group(pid, signal.SIGTERM)
        self._process.join(timeout=grace_s)
        if self._process.is_alive():
            _signal_group(pid, signal.SIGKILL)
            self._process.join(timeout=10)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the worker made itself a group leader (os.setsid)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class LocalProcessExecutor(Executor):
    """One freshly *spawned* process per job: no inherited threads, locks or CUDA state,
    and a crash, OOM kill or runaway native library takes down only that job."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._context = multiprocessing.get_context("spawn")

    def launch(self, spec: JobSpec) -> RunningJob:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=child_main, args=(spec, sender), name=f"eaa-job-{spec.job_id[:8]}"
        )
        process.start()
        sender.close()  # only the child writes; EOF on our side then means the child ended
        # Nice it now: the interpreter's start-up and imports before child_main (~0.25 s of
        # CPU) would otherwise run at the server's priority, in the server's scheduling group.
        if process.pid is not None:
            with contextlib.suppress(OSError):  # it may already be gone
                os.setpriority(os.PRIO_PROCESS, process.pid, worker_niceness(os.getpid()))
        return _LocalRunningJob(spec.job_id, process, receiver)


def make_executor(settings: Settings) -> Executor:
    """The executor ``settings.executor`` names: local processes, or Ray tasks (``ray`` extra).

    Example:
        >>> make_executor(Settings(executor="ray", ray_address="auto"))  # doctest: +SKIP
    """
    if settings.executor == "ray":
        from embodied_ai_architect.workers.ray_executor import RayExecutor

        return RayExecutor.from_settings(settings)
    return LocalProcessExecutor(settings.workers)
