"""Sending a learner's function or class to another process, even one defined in a notebook.

A worker process started with `spawn`, `forkserver` or torchrun can only unpickle objects it can
import. Three kinds of code travel three ways:

* importable code (torch, a tests module, the reference solutions, mutants) travels as a
  reference, `module.qualname`, imported on the other side;
* code that `arena check` loaded from the learner's notebook or `.py` file lives in a module no
  other process can import, `arena_learner`; it travels as the same reference plus the file's
  `LearnerSource`, and the worker loads that file with the same loader, once, before looking the
  name up. So a worker runs exactly the learner's file, and a traceback points into it;
* code with no file at all (a function typed into a live notebook kernel, a blank stub built in
  memory) travels by value: the compiled code object (`marshal`, exact for the same Python
  version), its defaults and closure, and every global it refers to, recursively; a class
  travels as its bases and attributes.

`cloudpickle` does the last job, but it is not a dependency and this is short enough to read.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import io
import marshal
import pickle
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from exercises.framework.loader import LearnerSource, load_source, source_of


@dataclass(frozen=True)
class Ref:
    """An object the receiver can import: `module.qualname`."""

    module: str
    qualname: str


@dataclass(frozen=True)
class Module:
    name: str


@dataclass(frozen=True)
class Value:
    """Plain data (numbers, strings, tensors as bytes): ordinary pickling is enough."""

    payload: bytes


@dataclass(frozen=True)
class Items:
    """A tuple or list whose items may need packing (a learner's function among plain data)."""

    kind: type
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Global:
    """A name in the global namespace `space` of the sender's code, shipped once per namespace."""

    space: int
    name: str


@dataclass(frozen=True)
class ClassCell:
    """The hidden `__class__` cell that zero-argument `super()` reads inside a method."""


@dataclass(frozen=True)
class Function:
    code: bytes
    name: str
    qualname: str
    space: int
    defaults: tuple[Any, ...] | None
    kwdefaults: dict[str, Any] | None
    closure: tuple[Any, ...] | None


@dataclass(frozen=True)
class Class:
    name: str
    qualname: str
    bases: tuple[Any, ...]
    attrs: dict[str, Any]


@dataclass(frozen=True)
class Instance:
    """An object of a class that must itself be shipped (a notebook dataclass, say)."""

    cls: Any
    state: dict[str, Any]


@dataclass
class Parcel:
    """What crosses the process boundary: the packed root object, the namespaces it needs, the
    learner files to load first, and the file names of learner code (for tracebacks)."""

    root: Any
    spaces: dict[int, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, LearnerSource] = field(default_factory=dict)
    files: frozenset[str] = frozenset()


def _importable_module(name: str) -> bool:
    """Whether a fresh process can import `name`: a real module, or a learner's file. A module
    made in memory (a stub namespace, a notebook's `__main__`) has no spec and no file to load."""
    if name == "__main__":
        return False
    module = sys.modules.get(name)
    if module is None:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False
    return getattr(module, "__spec__", None) is not None or source_of(name) is not None


def _importable(obj: Any) -> Ref | None:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname or not _importable_module(module):
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:
        return None
    return Ref(module, qualname) if found is obj else None


def _home(obj: Any) -> dict[str, Any] | None:
    """The global namespace a function, or a class's methods, were defined in."""
    if isinstance(obj, types.FunctionType):
        return obj.__globals__
    if isinstance(obj, type):
        for value in vars(obj).values():
            if isinstance(value, types.FunctionType):
                return value.__globals__
    return None


def _names(code: types.CodeType) -> set[str]:
    """Global names a code object may read, including those of nested functions and lambdas."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


class _RecordingPickler(pickle.Pickler):
    """Pickles plain data, noting the learner module of any class or function it refers to (an
    instance of a learner's dataclass pickles as a reference to `arena_learner`)."""

    def __init__(self, file: io.BytesIO, packer: _Packer) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.packer = packer

    def persistent_id(self, obj: Any) -> None:
        self.packer.note_module(
            getattr(obj if isinstance(obj, type | types.FunctionType) else type(obj), "__module__", None)
        )
        return None


class _Packer:
    def __init__(self) -> None:
        self.spaces: dict[int, dict[str, Any]] = {}
        self.sources: dict[str, LearnerSource] = {}
        self.files: set[str] = set()

    def note_module(self, module: Any) -> None:
        """Remember the learner file behind `module`, if there is one, so the receiver loads it."""
        source = source_of(module) if isinstance(module, str) else None
        if source is not None and module not in self.sources:
            self.sources[module] = source
            self.files |= vars(sys.modules[module]).get("__learner_files__", set())

    def pack(self, obj: Any, owner: type | None = None, by_name: bool = True) -> Any:
        if isinstance(obj, types.ModuleType):
            return Module(obj.__name__)
        ref = _importable(obj) if isinstance(obj, types.FunctionType | type) else None
        if ref is not None:
            self.note_module(ref.module)
            return ref
        home = _home(obj)
        if by_name and home is not None and home.get(obj.__name__) is obj:
            # Ship it as a name in its namespace, so the function a class's methods see is this one.
            return Global(self._global_space(home, {obj.__name__}), obj.__name__)
        if isinstance(obj, types.FunctionType):
            return self._function(obj, owner)
        if isinstance(obj, type):
            return self._class(obj)
        if type(obj) in (tuple, list):
            return Items(type(obj), tuple(self.pack(x) for x in obj))
        if (
            hasattr(obj, "__dict__")
            and isinstance(type(obj), type)
            and type(obj).__module__ != "builtins"
            and (_importable(type(obj)) is None or source_of(type(obj).__module__) is not None)
        ):  # attribute by attribute: a learner's object may hold a function typed into a notebook
            return Instance(self.pack(type(obj)), {k: self.pack(v) for k, v in vars(obj).items()})
        if isinstance(obj, staticmethod | classmethod | property):
            raise TypeError(f"{type(obj).__name__} attributes are not supported; use a plain method")
        buffer = io.BytesIO()
        _RecordingPickler(buffer, self).dump(obj)
        return Value(buffer.getvalue())

    def _global_space(self, namespace: dict[str, Any], names: set[str]) -> int:
        key = id(namespace)
        space = self.spaces.setdefault(key, {})
        for name in sorted(names):
            if name in space or name not in namespace or name.startswith("__"):
                continue
            space[name] = None  # claim the name first: recursive functions refer to themselves
            try:
                space[name] = self.pack(namespace[name], by_name=False)
            except Exception:
                del space[name]  # unpicklable and probably unused (e.g. an attribute name); NameError if not
        return key

    def _function(self, fn: types.FunctionType, owner: type | None) -> Function:
        if not _importable_module(fn.__globals__.get("__name__", "__main__")):
            self.files.add(fn.__code__.co_filename)  # the learner's code, typed into a notebook
        space = self._global_space(fn.__globals__, _names(fn.__code__))
        closure = None
        if fn.__closure__:
            cells = []
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
                is_own_class = name == "__class__" and owner is not None and cell.cell_contents is owner
                cells.append(ClassCell() if is_own_class else self.pack(cell.cell_contents))
            closure = tuple(cells)
        return Function(
            code=marshal.dumps(fn.__code__),
            name=fn.__name__,
            qualname=fn.__qualname__,
            space=space,
            defaults=tuple(self.pack(d) for d in fn.__defaults__) if fn.__defaults__ else None,
            kwdefaults={k: self.pack(v) for k, v in fn.__kwdefaults__.items()} if fn.__kwdefaults__ else None,
            closure=closure,
        )

    def _class(self, cls: type) -> Class:
        skip = {"__dict__", "__weakref__", "__module__"}
        attrs = {k: self.pack(v, owner=cls) for k, v in vars(cls).items() if k not in skip}
        return Class(cls.__name__, cls.__qualname__, tuple(self.pack(b) for b in cls.__bases__), attrs)


def pack(obj: Any) -> Parcel:
    packer = _Packer()
    root = packer.pack(obj)
    return Parcel(root, packer.spaces, packer.sources, frozenset(packer.files))


class _Unpacker:
    def __init__(self, parcel: Parcel) -> None:
        self.parcel = parcel
        self.spaces = {key: {"__builtins__": builtins, "__name__": "arena_shipped"} for key in parcel.spaces}

    def unpack(self, item: Any) -> Any:
        if isinstance(item, Module):
            return importlib.import_module(item.name)
        if isinstance(item, Ref):
            found: Any = importlib.import_module(item.module)
            for part in item.qualname.split("."):
                found = getattr(found, part)
            return found
        if isinstance(item, Value):
            return pickle.loads(item.payload)
        if isinstance(item, Items):
            return item.kind(self.unpack(x) for x in item.items)
        if isinstance(item, Instance):
            cls = self.unpack(item.cls)
            obj = cls.__new__(cls)
            obj.__dict__.update({k: self.unpack(v) for k, v in item.state.items()})
            return obj
        if isinstance(item, Global):
            return self._global(item.space, item.name)
        if isinstance(item, Function):
            return self._function(item, None)
        if isinstance(item, Class):
            return self._class(item)
        raise TypeError(f"cannot unpack {item!r}")

    def _function(self, item: Function, class_cell: types.CellType | None) -> types.FunctionType:
        closure = None
        if item.closure is not None:
            closure = tuple(
                class_cell if isinstance(c, ClassCell) and class_cell else types.CellType(self.unpack(c))
                for c in item.closure
            )
        fn = types.FunctionType(marshal.loads(item.code), self.spaces[item.space], item.name, None, closure)
        fn.__qualname__ = item.qualname
        if item.defaults is not None:
            fn.__defaults__ = tuple(self.unpack(d) for d in item.defaults)
        if item.kwdefaults is not None:
            fn.__kwdefaults__ = {k: self.unpack(v) for k, v in item.kwdefaults.items()}
        return fn

    def _class(self, item: Class) -> type:
        cell = types.CellType()
        attrs = {
            k: self._function(v, cell) if isinstance(v, Function) else self.unpack(v) for k, v in item.attrs.items()
        }
        cls = type(item.name, tuple(self.unpack(b) for b in item.bases), attrs)
        cls.__qualname__ = item.qualname
        cell.cell_contents = cls
        return cls

    def _global(self, key: int, name: str) -> Any:
        """A name in a shipped namespace, unpacked the first time something needs it (a base class
        must exist before its subclass; a function needs only its namespace dict to exist)."""
        space = self.spaces[key]
        if name not in space:
            space[name] = self.unpack(self.parcel.spaces[key][name])
        return space[name]

    def run(self) -> Any:
        for source in self.parcel.sources.values():
            load_source(source)
        for key, names in self.parcel.spaces.items():
            for name, packed in names.items():
                if packed is not None:
                    self._global(key, name)
        return self.unpack(self.parcel.root)


def unpack(parcel: Parcel) -> Any:
    return _Unpacker(parcel).run()
