"""The student's process while a notebook is graded: it runs the submission and answers the grader.

Started by the grading process (`dlcourse.remote.runner`) inside the sandbox where there is one
(`dlcourse.sandbox`), with one socket to the grader on file descriptor `--fd`. It runs the
submission's cells (and the course's locked cells, which the submission's code may use) in one
namespace, the module `notebook`, and answers requests: call this object, read that attribute,
measure that call. It never sees a grade cell: those run in the grading process, which only
receives data back (see `codec`).

    python -m dlcourse.remote.student --fd 3 --protect /course --allow /course/.venv ...
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import io
import linecache
import operator
import pickle
import random
import socket
import sys
import traceback
import types
import warnings
from typing import Any

import numpy as np
import torch

from dlcourse.remote.codec import Handles, StudentUnpickler, export, recv_frame, send_frame
from dlcourse.remote.watch import TamperWatch, install_audit_hook
from dlcourse.testing import behaviour

NOTEBOOK = "notebook"
STUDENT_PREFIX, TRUSTED_PREFIX = "<cell ", "<given "  # the file names cells are compiled under
_UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": abs, "invert": operator.invert, "len": len,
          "bool": bool, "repr": repr, "str": str, "hash": hash, "iter": iter, "next": next, "float": float,
          "int": int, "index": operator.index, "complex": complex}


def describe_exception(error: BaseException) -> tuple[str, str, str, list[str]]:
    """(type name, its module, message, the traceback lines that point into notebook code)."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename.startswith((STUDENT_PREFIX, TRUSTED_PREFIX))]
    lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' + (f"\n    {f.line}" if f.line else "")
             for f in frames]
    message = str(error)
    return type(error).__name__, type(error).__module__, message[:4000], lines


class StudentProcess:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.handles = Handles()
        module = types.ModuleType(NOTEBOOK)
        sys.modules[NOTEBOOK] = module
        self.namespace = module.__dict__
        self.namespace["__builtins__"] = builtins
        self.watch = TamperWatch()
        self.events: list[str] = []

    # ------------------------------------------------------------------ the loop
    def serve(self) -> None:
        while True:
            try:
                frame = recv_frame(self.sock)
            except EOFError:
                return
            unpickler = StudentUnpickler(io.BytesIO(frame), self.handles, self.namespace)
            try:
                kind, *args = unpickler.load()
                handler = getattr(self, "do_" + kind)
            except Exception as error:  # a request this process cannot read: say so, go on
                reply = ("raise", describe_exception(error), "", [])
            else:
                reply = self._answer(handler, args)
            send_frame(self.sock, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))

    def _answer(self, handler, args) -> tuple:
        """("ok", value, printed text, events) or ("raise", exception, printed text, events)."""
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                value = handler(*args)
            reply = ("ok", value)
        except BaseException as error:  # the submission's code may raise anything, SystemExit included
            reply = ("raise", describe_exception(error))
        events, self.events = self.events, []
        return (*reply, out.getvalue(), events)

    # ------------------------------------------------------------------ cells
    def do_ping(self) -> str:
        return "pong"

    def do_exec(self, source: str, filename: str) -> dict:
        """Run one cell; its printed text, and the error it raised (None when it ran to the end)."""
        stdout, stderr = io.StringIO(), io.StringIO()
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        error = None
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exec(compile(source, filename, "exec"), self.namespace)
        except BaseException as raised:  # noqa: BLE001 (SystemExit and KeyboardInterrupt are cell errors too)
            error = describe_exception(raised)
        if filename.startswith(TRUSTED_PREFIX):
            self.watch.after_trusted_cell(self.namespace)
        else:
            self.events += [f"{filename.strip('<>')}: {what}" for what in self.watch.after_student_cell(self.namespace)]
        return {"stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "error": error}

    def do_lookup(self, names: list[str]) -> dict:
        return {name: export(self.namespace[name], self.handles) for name in names if name in self.namespace}

    # ------------------------------------------------------------------ objects
    def do_call(self, target: Any, args: tuple, kwargs: dict, context: dict) -> dict:
        with self._context(context):
            result = target(*args, **kwargs)
        return {"result": export(result, self.handles), "args": [self._state(value) for value in args],
                "kwargs": {key: self._state(value) for key, value in kwargs.items()}}

    def do_method(self, target: Any, name: str, args: tuple, context: dict) -> Any:
        """A special method (__enter__, __exit__, __format__...) that attribute access cannot reach."""
        with self._context(context):
            return export(getattr(target, name)(*args), self.handles)

    def do_measure(self, kind: str, target: Any, args: tuple, kwargs: dict, options: dict, context: dict) -> dict:
        """Run a measurement of dlcourse.testing.behaviour here, where the student's code is."""
        if kind == "library_calls":
            def measure(function, *a, **k):
                return behaviour.library_calls(options["packages"], function, *a, **k)
        elif kind == "call":
            def measure(function, *a, **k):
                return function(*a, **k), None
        else:
            measure = {"count_lines": behaviour.count_lines, "shared_inputs": behaviour.shared_inputs}[kind]
        with self._context(context):
            result, data = measure(target, *args, **kwargs)
        data = dict(data) if kind == "count_lines" else data
        return {"result": export(result, self.handles), "data": export(data, self.handles),
                "args": [self._state(value) for value in args],
                "kwargs": {key: self._state(value) for key, value in kwargs.items()}}

    def do_getattr(self, target: Any, name: str) -> Any:
        return export(getattr(target, name), self.handles, copy_containers=False)

    def do_setattr(self, target: Any, name: str, value: Any) -> None:
        setattr(target, name, value)

    def do_delattr(self, target: Any, name: str) -> None:
        delattr(target, name)

    def do_getitem(self, target: Any, key: Any) -> Any:
        return export(target[key], self.handles, copy_containers=False)

    def do_setitem(self, target: Any, key: Any, value: Any) -> None:
        target[key] = value

    def do_delitem(self, target: Any, key: Any) -> None:
        del target[key]

    def do_binary(self, name: str, target: Any, other: Any, reflected: bool, context: dict) -> Any:
        function = getattr(operator, name)
        with self._context(context):
            return export(function(other, target) if reflected else function(target, other), self.handles)

    def do_unary(self, name: str, target: Any, context: dict) -> Any:
        with self._context(context):
            return export(_UNARY[name](target), self.handles)

    def do_value(self, target: Any) -> Any:
        return export(target, self.handles)

    # ------------------------------------------------------------------ helpers
    @contextlib.contextmanager
    def _context(self, context: dict):
        """Run with the grader's grad mode, and its global random state when that moved since last sent.

        The state never travels back: the grader's draws must not be steerable by the submission.
        """
        if context.get("rng") is not None:
            torch_state, numpy_state, python_state = context["rng"]
            torch.set_rng_state(torch_state)
            np.random.set_state(numpy_state)
            random.setstate(python_state)
        with torch.set_grad_enabled(context.get("grad", True)), np.errstate(**context.get("errstate", {})), \
                warnings.catch_warnings():
            if "warnings" in context:
                warnings.filters[:] = context["warnings"]
            yield

    def _state(self, value: Any) -> Any:
        """What an argument the grader sent by value looks like after the call (None: nothing to copy back)."""
        if id(value) in self.handles.objects:
            return None
        if isinstance(value, (np.ndarray, torch.Tensor, dict, list)):
            return export(value, self.handles)
        if isinstance(value, torch.nn.Module):
            attributes = {k: v for k, v in vars(value).items()
                          if not k.startswith("_") and isinstance(v, (list, dict, tuple, str, int, float, bool))}
            first = next(iter(value.parameters()), None)
            grads = {name: p.grad for name, p in value.named_parameters()}
            return ("\0module", export(value.state_dict(), self.handles), first.device.type if first is not None else None,
                    export(attributes, self.handles), export(grads, self.handles))
        if isinstance(value, torch.optim.Optimizer):
            return ("\0optim", export(value.state_dict(), self.handles))
        if isinstance(value, np.random.Generator):
            return ("\0npgen", export(value.bit_generator.state, self.handles))
        if isinstance(value, torch.Generator):
            return ("\0ptgen", export(value.get_state(), self.handles))
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="the socket to the grader")
    parser.add_argument("--protect", action="append", default=[], help="a folder that must stay unreadable")
    parser.add_argument("--allow", action="append", default=[], help="a folder inside one that may be read")
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    process = StudentProcess(sock)
    install_audit_hook(tuple(args.protect), tuple(args.allow), lambda event: process.events.append(event),
                       lambda filename: filename.startswith(STUDENT_PREFIX))
    process.serve()


if __name__ == "__main__":
    main()
