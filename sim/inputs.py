"""Raw-input validation: one layer per input kind, run before any deeper parsing.

Every function here either returns plain, bounded data or raises a
:class:`~sim.errors.UserError` subclass whose message is one line naming the input, the
key or field, the (abbreviated) value and what is allowed. Nothing is written.

* **Paths** (:func:`check_input_file`, :func:`check_output_path`, :func:`show_path`): a
  missing file, a directory, a FIFO / device / socket, a name with a control character
  (newline, ...) or bytes that are not UTF-8 are each named as what they are. A FIFO is
  never opened (so never blocks).
* **YAML** (:func:`read_yaml`): at most :data:`YAML_MAX_BYTES`; the event stream is scanned
  before anything is constructed — nesting deeper than :data:`YAML_MAX_DEPTH`, more than
  :data:`YAML_MAX_NODES` nodes after alias expansion ("billion laughs" answers in
  milliseconds), a list or mapping used as a key — then loaded with a safe loader that
  refuses duplicate keys and supports merge keys (``<<: *base``; explicit keys win).
* **npz vectors** (:func:`read_npz`): the zip's member headers are checked before anything
  is decompressed — a plain ``.npy``, not a zip, encryption, a compression other than
  stored/deflate (e.g. deflate64), unknown or duplicate keys, claimed sizes beyond
  :data:`NPZ_MAX_BYTES` or compression ratios beyond :data:`NPZ_MAX_RATIO` (zip bombs) — then
  each member's ``.npy`` header (object arrays refused, shape × item size must match the
  member size), and only then the data, with a corrupt stream named with its key.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable

from .errors import ConfigError, UserError, VectorError

__all__ = ["abbrev", "show_path", "check_input_file", "check_output_path", "read_yaml",
           "read_npz", "YAML_MAX_BYTES", "YAML_MAX_DEPTH", "YAML_MAX_NODES", "NPZ_MAX_BYTES",
           "NPZ_MAX_MEMBERS", "NPZ_MAX_RATIO", "InputPathError"]

#: largest configuration file read (bytes)
YAML_MAX_BYTES = 1 << 20
#: deepest nesting of sequences/mappings in a configuration
YAML_MAX_DEPTH = 32
#: most nodes a configuration may have once every alias is expanded
YAML_MAX_NODES = 100_000
#: largest total uncompressed size of the arrays of a vector file (bytes)
NPZ_MAX_BYTES = 256 << 20
#: most members (keys) in a vector file
NPZ_MAX_MEMBERS = 64
#: largest uncompressed/compressed ratio of a deflated member (zip bombs reach 1000+)
NPZ_MAX_RATIO = 200
#: members smaller than this may have any ratio (an all-zero array compresses very well)
_RATIO_FREE_BYTES = 1 << 20

_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {127: "\\x7f", 10: "\\n", 13: "\\r", 9: "\\t"}


class InputPathError(UserError):
    """An input or output path that is not what the command needs."""


def abbrev(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters (``...`` and the length)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not escape
        text = f"<{type(value).__name__}>"
    text = text.translate(_CONTROL)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return text


def show_path(path: str | os.PathLike) -> str:
    """A path as one printable line: control characters and non-UTF-8 bytes escaped."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace").translate(_CONTROL)


def _name_problem(path: str | os.PathLike) -> str | None:
    raw = os.fsencode(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "its name has bytes that are not UTF-8"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "its name has a control character (newline, tab, ...)"
    return None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "a special file"


def check_input_file(path: str | os.PathLike, *, what: str, allowed: str,
                     error: type[UserError] = InputPathError,
                     max_bytes: int | None = None) -> Path:
    """``path`` if it names a readable regular file of at most ``max_bytes``; else raise
    ``error`` with one line (``<path>: <what> is <problem>; allowed: <allowed>``)."""
    shown = show_path(path)
    problem = _name_problem(path)
    if problem:
        raise error(f"{shown}: {what}: {problem}; allowed: {allowed} with a printable "
                    f"UTF-8 name")
    try:
        st = os.stat(path)  # never open: a FIFO would block
    except FileNotFoundError:
        raise error(f"{shown}: no such {what}; allowed: {allowed}") from None
    except NotADirectoryError:
        raise error(f"{shown}: no such {what} (a parent is not a directory); allowed: "
                    f"{allowed}") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read the {what} ({exc.strerror}); allowed: "
                    f"{allowed}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{shown}: the {what} is {_kind(st.st_mode)}; allowed: {allowed} "
                    f"(a regular file)")
    if not os.access(path, os.R_OK):
        raise error(f"{shown}: the {what} is not readable (permission denied); allowed: "
                    f"{allowed}")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{shown}: the {what} is {st.st_size} bytes; allowed: {allowed} of at "
                    f"most {max_bytes} bytes")
    return Path(path)


def check_output_path(path: str | os.PathLike, *, what: str, directory: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    ``directory=False``: ``path`` must not be a directory or a special file and its
    directory must exist (or be creatable) and be writable. ``directory=True``: ``path`` must
    be a directory or not exist, under a writable parent. Raises :class:`InputPathError`.
    """
    shown = show_path(path)
    problem = _name_problem(path)
    kind = "directory" if directory else "file"
    if problem:
        raise InputPathError(f"{shown}: {what}: {problem}; allowed: a {kind} path with a "
                             f"printable UTF-8 name")
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputPathError(f"{shown}: {what}: {exc.strerror}; allowed: a writable {kind} "
                             f"path") from None
    if st is not None:
        ok = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
        if not ok:
            want = "a directory" if directory else "a regular file"
            raise InputPathError(f"{shown}: {what} is {_kind(st.st_mode)}, not {want}; "
                                 f"allowed: {want} path")
    _probe_writable(p if (directory and st is not None) else p.parent, shown, what, kind)
    return p


def _probe_writable(parent: Path, shown: str, what: str, kind: str) -> None:
    """Create ``parent`` (and its missing ancestors) and a file in it, then remove them all
    again: the only test of writability that also holds for root and read-only mounts."""
    import tempfile
    created: list[Path] = []
    anc = parent
    while not os.path.lexists(anc) and anc.parent != anc:
        created.append(anc)
        anc = anc.parent
    try:
        for d in reversed(created):
            d.mkdir()
        fd, probe = tempfile.mkstemp(prefix=".qmac-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = show_path(exc.filename) if getattr(exc, "filename", None) else show_path(parent)
        raise InputPathError(f"{shown}: {what}: cannot write in {where} ({exc.strerror}); "
                             f"allowed: a writable {kind} path") from None
    finally:
        for d in created:
            try:
                d.rmdir()
            except OSError:
                pass


# ---------------------------------------------------------------------------- YAML
def _yaml_fail(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def _scan_events(text: str, where: str) -> None:
    """Bound depth, aliases and key kinds on the event stream (nothing constructed yet)."""
    import yaml
    stack: list[list[int]] = []   # per open collection: [size, is_mapping, position]
    anchors: dict[str, int] = {}
    anchored: list[str | None] = []
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, (yaml.StreamStartEvent, yaml.StreamEndEvent,
                           yaml.DocumentStartEvent, yaml.DocumentEndEvent)):
            continue
        line = ev.start_mark.line + 1 if ev.start_mark else 0
        if isinstance(ev, (yaml.CollectionEndEvent,)):
            size, _, _ = stack.pop()
            anchor = anchored.pop()
            if anchor is not None:
                anchors[anchor] = size
            if stack:
                stack[-1][0] += size
            continue
        collection = isinstance(ev, yaml.CollectionStartEvent)
        if stack and stack[-1][1]:
            is_key = stack[-1][2] % 2 == 0
            stack[-1][2] += 1
            alias_to_collection = isinstance(ev, yaml.AliasEvent) and anchors.get(ev.anchor, 1) > 1
            if is_key and (collection or alias_to_collection):
                raise _yaml_fail(where, f"line {line}: a list or mapping used as a key; "
                                        f"allowed: a plain (string) key")
        if isinstance(ev, yaml.AliasEvent):
            if ev.anchor not in anchors:
                raise _yaml_fail(where, f"line {line}: alias *{abbrev(ev.anchor, 30)} refers to "
                                        f"an unfinished or unknown anchor; allowed: an alias "
                                        f"to an anchor defined before it")
            size = anchors[ev.anchor]
        elif collection:
            if len(stack) >= YAML_MAX_DEPTH:
                raise _yaml_fail(where, f"line {line}: nesting deeper than {YAML_MAX_DEPTH} "
                                        f"levels; allowed: at most {YAML_MAX_DEPTH}")
            stack.append([1, isinstance(ev, yaml.MappingStartEvent), 0])
            anchored.append(ev.anchor)
            continue
        else:
            size = 1
            if ev.anchor is not None:
                anchors[ev.anchor] = 1
        if stack:
            stack[-1][0] += size
            if stack[-1][0] > YAML_MAX_NODES:
                raise _yaml_fail(where, f"line {line}: more than {YAML_MAX_NODES} values once "
                                        f"aliases are expanded (alias bomb?); allowed: at most "
                                        f"{YAML_MAX_NODES}")


def _strict_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader: duplicate keys refused, merge keys (``<<``) supported."""

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=deep)
            try:
                dup = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a list or mapping used as a key", key_node.start_mark) from None
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {abbrev(key, 40)}", key_node.start_mark)
            seen.add(key)
        loader.flatten_mapping(node)   # merge keys: explicit keys come last and win
        return loader.construct_mapping(node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return StrictLoader


def read_yaml(path: str | os.PathLike, *, what: str = "configuration file",
              allowed: str = "a YAML file") -> Any:
    """Read a YAML file within the bounds above; returns the parsed data.

    Raises :class:`~sim.errors.ConfigError` with one line on any problem.
    """
    import yaml
    p = check_input_file(path, what=what, allowed=allowed, error=ConfigError,
                         max_bytes=YAML_MAX_BYTES)
    where = show_path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(YAML_MAX_BYTES + 1)
    except OSError as exc:
        raise _yaml_fail(where, f"cannot read it ({exc.strerror}); allowed: {allowed}") from None
    if len(data) > YAML_MAX_BYTES:
        raise _yaml_fail(where, f"more than {YAML_MAX_BYTES} bytes; allowed: {allowed} of at "
                                f"most {YAML_MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _yaml_fail(where, f"byte {exc.start} is not UTF-8; allowed: {allowed} in "
                                f"UTF-8") from None
    try:
        _scan_events(text, where)
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - safe subclass
    except yaml.reader.ReaderError as exc:
        ch = exc.character
        shown = f"U+{ch:04X}" if isinstance(ch, int) else abbrev(ch, 12)
        raise _yaml_fail(where, f"character {shown} at position "
                                f"{exc.position} is not allowed in YAML; allowed: printable "
                                f"UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(exc, "problem", None) or "invalid YAML").translate(_CONTROL)[:160]
        raise _yaml_fail(where, f"YAML syntax error{at}: {problem}") from None
    except RecursionError:  # pragma: no cover - depth is bounded by _scan_events
        raise _yaml_fail(where, f"nesting too deep; allowed: at most {YAML_MAX_DEPTH}") from None


# ---------------------------------------------------------------------------- npz
_NPZ_ALLOWED = "an .npz file written by numpy.savez or numpy.savez_compressed"
_COMPRESSION = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_OTHER_COMPRESSION = {9: "deflate64", zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma",
                      93: "zstandard"}


def _npz_fail(where: str, msg: str) -> VectorError:
    return VectorError(f"{where}: {msg}")


def _open_zip(p: Path, where: str) -> zipfile.ZipFile:
    with open(p, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x93NUMPY"):
        raise _npz_fail(where, f"a plain .npy array, not an .npz archive of named arrays; "
                               f"allowed: {_NPZ_ALLOWED} (e.g. numpy.savez(path, x=x, w=w, ...))")
    if not head.startswith(b"PK"):
        raise _npz_fail(where, f"not a zip archive (starts with {abbrev(head, 30)}); allowed: "
                               f"{_NPZ_ALLOWED}")
    try:
        return zipfile.ZipFile(p)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            NotImplementedError, RuntimeError) as exc:
        raise _npz_fail(where, f"damaged zip archive ({abbrev(str(exc), 60)}); allowed: "
                               f"{_NPZ_ALLOWED}") from None


def _check_members(zf: zipfile.ZipFile, where: str, allowed_keys: Iterable[str]) -> list:
    """Member headers only: names, encryption, compression, claimed sizes, ratios."""
    allowed_keys = tuple(allowed_keys)
    infos = zf.infolist()
    if len(infos) > NPZ_MAX_MEMBERS:
        raise _npz_fail(where, f"{len(infos)} members; allowed: at most {NPZ_MAX_MEMBERS}")
    seen, total = set(), 0
    for info in infos:
        name = info.filename
        key = name[:-4] if name.endswith(".npy") else name
        if not name.endswith(".npy") or key not in allowed_keys:
            raise _npz_fail(where, f"unknown key {abbrev(key, 40)}; allowed: "
                                   f"{', '.join(allowed_keys)}")
        if key in seen:
            raise _npz_fail(where, f"key {key!r} appears twice; allowed: each key once")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise _npz_fail(where, f"{key}: the member is encrypted; allowed: {_NPZ_ALLOWED} "
                                   f"(no password)")
        if info.compress_type not in _COMPRESSION:
            method = _OTHER_COMPRESSION.get(info.compress_type, f"method {info.compress_type}")
            raise _npz_fail(where, f"{key}: compressed with {method}; allowed: stored or deflate "
                                   f"({_NPZ_ALLOWED})")
        total += info.file_size
        if info.file_size > NPZ_MAX_BYTES or total > NPZ_MAX_BYTES:
            raise _npz_fail(where, f"{key}: {info.file_size} bytes uncompressed (claimed by the "
                                   f"zip header); allowed: at most {NPZ_MAX_BYTES} bytes in all")
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > _RATIO_FREE_BYTES and ratio > NPZ_MAX_RATIO:
            raise _npz_fail(where, f"{key}: compression ratio {ratio:.0f}:1 (zip bomb?); "
                                   f"allowed: at most {NPZ_MAX_RATIO}:1 for members over "
                                   f"{_RATIO_FREE_BYTES} bytes")
    return infos


def _read_member(zf: zipfile.ZipFile, info, where: str):
    """One member: its .npy header checked (no objects, size consistent), then the data."""
    import numpy as np
    from numpy.lib import format as npf
    key = info.filename[:-4]
    try:
        with zf.open(info) as f:
            version = npf.read_magic(f)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise ValueError(f"unknown .npy version {version}")
            reader = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
            shape, fortran, dtype = reader(f, max_header_size=10000)
            if dtype.hasobject:
                raise _npz_fail(where, f"{key}: an object array (dtype {abbrev(str(dtype), 30)});"
                                       f" allowed: numeric or string arrays (no pickled objects)")
            count = 1
            for n in shape:
                count *= int(n)
            nbytes = count * dtype.itemsize
            if nbytes > info.file_size:
                raise _npz_fail(where, f"{key}: header claims shape {list(shape)} "
                                       f"({nbytes} bytes) but the member holds {info.file_size}"
                                       f" bytes; allowed: {_NPZ_ALLOWED}")
            data = f.read(nbytes)
            if len(data) != nbytes:
                raise EOFError(f"{len(data)} of {nbytes} bytes")
        order = "F" if fortran else "C"
        return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")
    except VectorError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, TypeError,
            NotImplementedError, RuntimeError, MemoryError, OverflowError) as exc:
        raise _npz_fail(where, f"{key}: corrupt or unreadable array "
                               f"({abbrev(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 60)});"
                               f" allowed: {_NPZ_ALLOWED}") from None


def read_npz(path: str | os.PathLike, *, allowed_keys: Iterable[str]) -> dict[str, Any]:
    """The arrays of an ``.npz`` file, key → array, within the bounds above.

    Raises :class:`~sim.errors.VectorError` with one line on any problem.
    """
    p = check_input_file(path, what="vector file", allowed=_NPZ_ALLOWED, error=VectorError)
    where = show_path(path)
    zf = _open_zip(p, where)
    with zf:
        infos = _check_members(zf, where, allowed_keys)
        return {info.filename[:-4]: _read_member(zf, info, where) for info in infos}
