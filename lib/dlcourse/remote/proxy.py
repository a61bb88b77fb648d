"""The grading process's side of the student's process: one connection, and proxies for its objects.

A `Remote` stands for an object that lives in the student's process (a function, a class, an
instance): calling it, reading or setting its attributes and items, iterating it, or using an
operator on it becomes a request. Answers come back as data (`codec.decode`): arrays, tensors,
numbers, strings, containers, or more proxies. Arguments go by value, and the changes the
student's code makes to them in place are copied back, so that a grade cell sees what it
would have seen in one process. An exception raised by the student's code is raised again
here, as the same built-in type where there is one (`StudentError` otherwise).
"""

from __future__ import annotations

import builtins
import io
import random
import socket
import time
import warnings
from typing import Any

import numpy as np
import torch

from dlcourse.remote.codec import GraderPickler, decode, loads_from_student, recv_frame, send_frame

NOTEBOOK = "notebook"


class StudentError(Exception):
    """The student's code raised an exception that has no built-in type here."""


class StudentProcessLost(BaseException):
    """The student's process stopped answering: it ran past the cell's time limit, or it died.

    A BaseException, so that a grade cell's `except Exception` cannot swallow it.
    """

    def __init__(self, reason: str, timed_out: bool) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


def _rng_states() -> tuple:
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _rng_digest(states: tuple) -> int:
    torch_state, numpy_state, python_state = states
    return hash((torch_state.numpy().tobytes(), numpy_state[1].tobytes(), numpy_state[2:], python_state))


class StudentConnection:
    """Requests to the student's process, with a deadline that the runner sets per cell."""

    def __init__(self, sock: socket.socket, on_output, on_event) -> None:
        self.sock = sock
        self.on_output = on_output      # text the student's code printed while answering
        self.on_event = on_event        # what it attempted (see dlcourse.remote.watch)
        self.deadline: float | None = None
        self._sent_rng: int | None = None

    # ------------------------------------------------------------------ requests
    def request(self, kind: str, *args: Any) -> Any:
        buffer = io.BytesIO()
        GraderPickler(buffer, NOTEBOOK, self._handle_of).dump((kind, *args))
        try:
            self.sock.settimeout(None if self.deadline is None else max(0.01, self.deadline - time.monotonic()))
            send_frame(self.sock, buffer.getvalue())
            status, value, printed, events = loads_from_student(recv_frame(self.sock))
        except (socket.timeout, TimeoutError):
            raise StudentProcessLost("ran past its time limit", timed_out=True) from None
        except (EOFError, OSError, ValueError) as error:
            raise StudentProcessLost(f"the student's process stopped ({error})", timed_out=False) from None
        if printed:
            self.on_output(printed)
        for event in events:
            self.on_event(str(event))
        if status == "raise":
            raise self._exception(value)
        return value

    def decoded(self, kind: str, *args: Any) -> Any:
        return self.decode(self.request(kind, *args))

    def decode(self, wire: Any) -> Any:
        return decode(wire, lambda h, t, c: Remote(self, h, t, c), _device_here)

    def context(self) -> dict:
        """Grad mode, and the global random state when it changed here since it was last sent."""
        states = _rng_states()
        digest = _rng_digest(states)
        sent = None
        if digest != self._sent_rng:
            sent, self._sent_rng = states, digest
        shareable = [f for f in warnings.filters if getattr(f[2], "__module__", "") != NOTEBOOK]
        return {"grad": torch.is_grad_enabled(), "rng": sent, "errstate": np.geterr(), "warnings": shareable}

    def call(self, target: Remote, args: tuple, kwargs: dict) -> Any:
        reply = self.request("call", target, args, kwargs, self.context())
        self._copy_back(args, kwargs, reply)
        return self.decode(reply["result"])

    def measure(self, kind: str, target: Any, args: tuple, kwargs: dict, options: dict | None = None
                ) -> tuple[Any, Any]:
        reply = self.request("measure", kind, target, args, kwargs, options or {}, self.context())
        self._copy_back(args, kwargs, reply)
        return self.decode(reply["result"]), self.decode(reply["data"])

    def _copy_back(self, args: tuple, kwargs: dict, reply: dict) -> None:
        """What the student's code did in place to the arguments it was sent."""
        for original, state in zip(args, reply["args"]):
            self.apply_state(original, state)
        for key, state in reply["kwargs"].items():
            self.apply_state(kwargs[key], state)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _handle_of(obj: Any) -> int | None:
        return object.__getattribute__(obj, "_handle") if type(obj) is Remote else None

    @staticmethod
    def _exception(value: Any) -> BaseException:
        type_name, module, message, lines = value
        if (module, type_name) == ("dlcourse.testing.checks", "CheckFailed"):  # a check inside a callback
            from dlcourse.testing import CheckFailed
            return CheckFailed(str(message))
        kind = getattr(builtins, str(type_name), None) if module == "builtins" else None
        if isinstance(kind, type) and issubclass(kind, Exception) and kind is not StopAsyncIteration:
            try:
                error = kind(message)
            except Exception:  # a built-in type whose constructor wants other arguments
                error = StudentError(f"{type_name}: {message}")
        else:  # custom types, SystemExit, KeyboardInterrupt: never act on them here
            error = StudentError(f"{type_name}: {message}")
        error.student_traceback = [str(line) for line in lines]
        return error

    def apply_state(self, original: Any, wire: Any) -> None:
        """Copy into `original` what the student's code did to its copy of it."""
        if wire is None:
            return
        if isinstance(wire, tuple) and wire and wire[0] == "\0module" and isinstance(original, torch.nn.Module):
            _, state, device, attributes, grads = wire
            if device is not None:
                original.to(_device_here(device))
            original.load_state_dict(self.decode(state), strict=False)
            for key, value in self.decode(attributes).items():
                setattr(original, key, value)
            parameters = dict(original.named_parameters())
            for name, grad in self.decode(grads).items():
                if name in parameters:
                    parameters[name].grad = grad
            return
        if isinstance(wire, tuple) and wire and wire[0] == "\0optim" and isinstance(original, torch.optim.Optimizer):
            original.load_state_dict(self.decode(wire[1]))
            return
        if isinstance(wire, tuple) and wire and wire[0] == "\0npgen" and isinstance(original, np.random.Generator):
            original.bit_generator.state = self.decode(wire[1])
            return
        if isinstance(wire, tuple) and wire and wire[0] == "\0ptgen" and isinstance(original, torch.Generator):
            original.set_state(self.decode(wire[1]))
            return
        new = self.decode(wire)
        if isinstance(original, np.ndarray) and isinstance(new, np.ndarray):
            if new.shape == original.shape and not np.array_equal(new, original, equal_nan=original.dtype.kind in "fc"):
                if not original.flags.writeable:
                    raise ValueError("assignment destination is read-only (the function changed its input)")
                np.copyto(original, new, casting="unsafe")
        elif isinstance(original, torch.Tensor) and isinstance(new, torch.Tensor):
            with torch.no_grad():
                if new.shape == original.shape and original.device.type != "meta" and not torch.equal(
                        new.to(original.device, original.dtype), original):
                    original.copy_(new)
            if new.grad is not None:
                original.grad = new.grad.to(original.device)
        elif isinstance(original, dict) and isinstance(new, dict):
            original.clear()
            original.update(new)
        elif isinstance(original, list) and isinstance(new, list):
            original[:] = new


def _device_here(device_type: str) -> str:
    """Where to put a tensor that lived on `device_type` in the student's process."""
    if device_type == "cuda" and torch.cuda.is_available():
        return "cuda"
    if device_type == "mps" and torch.backends.mps.is_available():
        return "mps"
    return "meta" if device_type == "meta" else "cpu"


_ALLOWED_DUNDERS = {"__name__", "__qualname__", "__wrapped__"}


class Remote:
    """An object of the student's process, seen from the grading process."""

    __slots__ = ("_connection", "_handle", "_type_name", "_callable")

    def __init__(self, connection: StudentConnection, handle: int, type_name: str, is_callable: bool) -> None:
        object.__setattr__(self, "_connection", connection)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_callable", is_callable)

    @property
    def __dlcourse_remote__(self) -> StudentConnection:
        return object.__getattribute__(self, "_connection")

    def _ask(self, kind: str, *args: Any) -> Any:
        return object.__getattribute__(self, "_connection").decoded(kind, self, *args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") and name not in _ALLOWED_DUNDERS:
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._ask("setattr", name, value)

    def __delattr__(self, name: str) -> None:
        self._ask("delattr", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return object.__getattribute__(self, "_connection").call(self, args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._ask("setitem", key, value)

    def __delitem__(self, key: Any) -> None:
        self._ask("delitem", key)

    def __contains__(self, item: Any) -> bool:
        return bool(self._binary("contains", item, False))

    def __iter__(self):
        return self._unary("iter")

    def __next__(self):
        return self._unary("next")

    def __format__(self, spec: str) -> str:
        connection = object.__getattribute__(self, "_connection")
        return connection.decoded("method", self, "__format__", (spec,), connection.context())

    def __enter__(self):
        connection = object.__getattribute__(self, "_connection")
        return connection.decoded("method", self, "__enter__", (), connection.context())

    def __exit__(self, *exc_info):
        connection = object.__getattribute__(self, "_connection")
        return connection.decoded("method", self, "__exit__", (None, None, None), connection.context())

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._ask("value"), dtype=dtype)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        def value(item):
            return item._ask("value") if type(item) is Remote else item
        return func(*[value(a) for a in args], **{k: value(v) for k, v in (kwargs or {}).items()})

    def __deepcopy__(self, memo):  # a handle is a reference: copying it copies the reference
        return self

    def __copy__(self):
        return self

    def __repr__(self) -> str:
        return self._unary("repr")

    def __str__(self) -> str:
        return self._unary("str")

    def __hash__(self) -> int:
        return self._unary("hash")

    def _unary(self, name: str) -> Any:
        connection = object.__getattribute__(self, "_connection")
        return connection.decoded("unary", name, self, connection.context())

    def _binary(self, name: str, other: Any, reflected: bool) -> Any:
        connection = object.__getattribute__(self, "_connection")
        return connection.decoded("binary", name, self, other, reflected, connection.context())


def _unary_method(name: str):
    return lambda self: self._unary(name)


def _binary_method(name: str, reflected: bool):
    return lambda self, other: self._binary(name, other, reflected)


for _name in ("neg", "pos", "abs", "invert", "len", "bool", "float", "int", "index", "complex"):
    setattr(Remote, f"__{_name}__", _unary_method(_name))
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    operator_name = _name + "_" if _name in ("and", "or") else _name
    setattr(Remote, f"__{_name}__", _binary_method(operator_name, False))
    setattr(Remote, f"__r{_name}__", _binary_method(operator_name, True))
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(Remote, f"__{_name}__", _binary_method(_name, False))
