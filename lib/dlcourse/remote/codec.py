"""What crosses between the grading process and the student's process, and how.

Student -> grader: builtin data only (None, bool, int, float, complex, str, bytes, lists) and
tagged tuples for arrays, tensors, tuples, dicts and handles to objects that stay in the
student's process. The grader unpickles it with no global allowed (`loads_from_student`), so
nothing a submission sends can run code in the grading process.

Grader -> student: an ordinary pickle (the student's process is the untrusted side), in which
proxies travel as handles, modules by name, and functions of the notebook's trusted cells as
their code with the globals they use (`GraderPickler`).

Frames on the socket: 8-byte big-endian length, then the payload.
"""

from __future__ import annotations

import builtins
import io
import marshal
import pickle
import socket
import struct
import types
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import torch

MAX_FRAME = 1 << 30  # 1 GiB: a larger message from the student's process is refused
_NUMERIC_KINDS = "biufc"
_TORCH_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}


# ------------------------------------------------------------------------------- framing
def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">Q", len(payload)) + payload)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 22))
        if not chunk:
            raise EOFError("the other process closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">Q", _recv_exactly(sock, 8))
    if size > MAX_FRAME:
        raise ValueError(f"message of {size} bytes refused (the limit is {MAX_FRAME})")
    return _recv_exactly(sock, size)


# ------------------------------------------------------------------- student -> grader
class Handles:
    """Objects kept in the student's process and named by a number on the grader's side."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}

    def add(self, value: Any) -> int:
        self.objects[id(value)] = value
        return id(value)

    def get(self, handle: int) -> Any:
        try:
            return self.objects[handle]
        except KeyError:
            raise LookupError(f"no object {handle} in the student's process (was it restarted?)") from None


_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def export(value: Any, handles: Handles, copy_containers: bool = True) -> Any:
    """`value` as builtin data: arrays and tensors by value, other objects as handles.

    copy_containers: tuples, lists and dicts are sent by value (True: the result of a call)
    or as handles (False: an attribute or item, which the grader may then change in place).
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in _NUMERIC_KINDS and value.dtype.fields is None:
        return ("\0nd", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    if isinstance(value, np.generic) and value.dtype.kind in _NUMERIC_KINDS:
        return ("\0np", value.dtype.str, value.tobytes())
    if isinstance(value, torch.Tensor) and value.layout == torch.strided and \
            str(value.dtype).removeprefix("torch.") in _TORCH_DTYPES:
        return _export_tensor(value, handles)
    if kind is torch.Size:
        return ("\0size", tuple(value))
    if kind is torch.dtype:
        return ("\0tdtype", str(value).removeprefix("torch."))
    if kind is torch.device:
        return ("\0tdevice", str(value))
    if isinstance(value, np.dtype):
        return ("\0npdtype", value.str)
    if kind in (type({}.keys()), type({}.values()), type({}.items())):
        return [export(item, handles) for item in value]
    if copy_containers and kind in (tuple, list, dict, OrderedDict, set, frozenset):
        if kind in (dict, OrderedDict):
            items = [(export(k, handles), export(v, handles)) for k, v in value.items()]
            return ("\0dict" if kind is dict else "\0odict", items)
        items = [export(item, handles) for item in value]
        return items if kind is list else ("\0" + kind.__name__, items)
    return ("\0ref", handles.add(value), kind.__qualname__, callable(value))


def _export_tensor(value: torch.Tensor, handles: Handles) -> tuple:
    tensor = value.detach()
    data = None
    if tensor.device.type != "meta":
        cpu = tensor.cpu().contiguous()
        if cpu.dtype == torch.bfloat16:
            cpu = cpu.view(torch.int16)
        data = cpu.numpy().tobytes()
    grad = export(value.grad, handles) if value.grad is not None else None
    return ("\0pt", str(value.dtype).removeprefix("torch."), tuple(value.shape), data, bool(value.requires_grad),
            value.device.type, grad)


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "complex"):
            return builtins.complex
        raise pickle.UnpicklingError(f"the student's process sent a {module}.{name}, which is refused")


def loads_from_student(payload: bytes) -> Any:
    """Unpickle a frame from the student's process: builtin data only, no code."""
    return _NoGlobals(io.BytesIO(payload)).load()


def decode(wire: Any, make_proxy: Callable[[int, str, bool], Any], device_for: Callable[[str], str]) -> Any:
    """The grader's copy of exported data; handles become `make_proxy(handle, type_name, callable)`.

    device_for(device_type) says where to put a tensor that lived on that device type.
    """
    def go(item: Any) -> Any:
        if isinstance(item, list):
            return [go(x) for x in item]
        if not (isinstance(item, tuple) and item and isinstance(item[0], str) and item[0].startswith("\0")):
            if isinstance(item, tuple):
                raise ValueError("malformed data from the student's process")
            return item
        tag, *rest = item
        if tag == "\0nd":
            dtype_str, shape, data = rest
            return _array(dtype_str, shape, data)
        if tag == "\0np":
            dtype_str, data = rest
            return _array(dtype_str, (), data)[()]
        if tag == "\0pt":
            return _tensor(*rest, go=go, device_for=device_for)
        if tag == "\0size":
            return torch.Size(int(x) for x in rest[0])
        if tag == "\0tdtype":
            return _TORCH_DTYPES[rest[0]]
        if tag == "\0tdevice":
            return torch.device(device_for(str(rest[0]).split(":")[0]))
        if tag == "\0npdtype":
            return _numeric_dtype(rest[0])
        if tag in ("\0dict", "\0odict"):
            pairs = [(go(k), go(v)) for k, v in rest[0]]
            return dict(pairs) if tag == "\0dict" else OrderedDict(pairs)
        if tag in ("\0tuple", "\0set", "\0frozenset"):
            return {"\0tuple": tuple, "\0set": set, "\0frozenset": frozenset}[tag](go(x) for x in rest[0])
        if tag == "\0ref":
            handle, type_name, is_callable = rest
            return make_proxy(int(handle), str(type_name), bool(is_callable))
        raise ValueError(f"unknown tag {tag!r} from the student's process")
    return go(wire)


def _numeric_dtype(dtype_str: str) -> np.dtype:
    dtype = np.dtype(str(dtype_str))
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise ValueError(f"dtype {dtype_str!r} refused")
    return dtype


def _array(dtype_str: str, shape: Any, data: bytes) -> np.ndarray:
    dtype = _numeric_dtype(dtype_str)
    shape = tuple(int(s) for s in shape)
    return np.frombuffer(bytes(data), dtype=dtype).reshape(shape).copy()


def _tensor(dtype_name, shape, data, requires_grad, device_type, grad, go, device_for) -> torch.Tensor:
    dtype = _TORCH_DTYPES[dtype_name]
    shape = tuple(int(s) for s in shape)
    if data is None:
        tensor = torch.empty(shape, dtype=dtype, device="meta")
    else:
        storage_dtype = torch.int16 if dtype == torch.bfloat16 else dtype
        numpy_dtype = torch.empty((), dtype=storage_dtype).numpy().dtype
        tensor = torch.from_numpy(_array(numpy_dtype.str, shape, data))
        if dtype == torch.bfloat16:
            tensor = tensor.view(torch.bfloat16)
        tensor = tensor.to(device_for(str(device_type)))
    if requires_grad and (dtype.is_floating_point or dtype.is_complex):
        tensor.requires_grad_(True)
    if grad is not None:
        tensor.grad = go(grad)
    return tensor


# -------------------------------------------------------------------- grader -> student
class GraderPickler(pickle.Pickler):
    """Pickles arguments for the student's process.

    Proxies go as their handle; modules by name; functions defined in the notebook's cells
    (module `notebook_module`) as code + defaults + closure + the globals their code names.
    """

    def __init__(self, file, notebook_module: str, handle_of: Callable[[Any], int | None]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.notebook_module = notebook_module
        self.handle_of = handle_of
        self._shipping: set[int] = set()  # functions being pickled (one that names itself goes by name)

    def persistent_id(self, obj: Any) -> Any:
        handle = self.handle_of(obj)
        if handle is not None:
            return ("ref", handle)
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        if isinstance(obj, torch.Tensor) and (isinstance(obj, torch.nn.Parameter) or obj.grad is not None):
            # plain pickling drops .grad; the token keeps one object for one parameter (model and optimizer)
            return ("tensor", id(obj), obj.detach(), obj.requires_grad, obj.grad,
                    isinstance(obj, torch.nn.Parameter))
        if isinstance(obj, types.FunctionType) and obj.__module__ == self.notebook_module:
            if id(obj) in self._shipping:
                return ("name", obj.__name__)
            self._shipping.add(id(obj))
            return ("function", marshal.dumps(obj.__code__), obj.__name__, obj.__defaults__, obj.__kwdefaults__,
                    tuple(cell.cell_contents for cell in obj.__closure__ or ()),
                    {name: obj.__globals__[name] for name in _global_names(obj.__code__) if name in obj.__globals__})
        return None


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


class StudentUnpickler(pickle.Unpickler):
    """The student's side of GraderPickler: handles back to objects, code back to functions."""

    def __init__(self, file, handles: Handles, namespace: dict) -> None:
        super().__init__(file)
        self.handles = handles
        self.namespace = namespace
        self.tensors: dict[int, torch.Tensor] = {}

    def persistent_load(self, pid: Any) -> Any:
        kind = pid[0]
        if kind == "ref":
            return self.handles.get(pid[1])
        if kind == "module":
            import importlib
            return importlib.import_module(pid[1])
        if kind == "name":
            return self.namespace[pid[1]]
        if kind == "tensor":
            _, token, data, requires_grad, grad, is_parameter = pid
            if token not in self.tensors:
                tensor = torch.nn.Parameter(data, requires_grad) if is_parameter else data.requires_grad_(requires_grad)
                tensor.grad = grad
                self.tensors[token] = tensor
            return self.tensors[token]
        if kind == "function":
            _, code, name, defaults, kwdefaults, closure, used = pid
            scope = {"__builtins__": builtins, "__name__": self.namespace.get("__name__", "notebook"), **used}
            function = types.FunctionType(marshal.loads(code), scope, name, defaults,
                                          tuple(types.CellType(value) for value in closure) or None)
            function.__kwdefaults__ = kwdefaults
            return function
        raise pickle.UnpicklingError(f"unknown reference {kind!r}")
