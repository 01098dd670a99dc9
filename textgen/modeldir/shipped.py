"""The shipped models: a model directory that travels with the package (textgen/shipped/, package
data), reached by its short name, and that no command writes into. Every writer (atomic writes,
the folder lock, export, tune-cast) refuses a path inside one; every reader resolves a short name."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from textgen.errors import TextgenError
from textgen.modeldir.names import META_FILE

SHIPPED_MODELS = {"tinystories": "tinystories-lstm"}  # short name -> folder under textgen/shipped/
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"  # package data: travels with an installed textgen


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A model directory by path, or a shipped model by its short name (a folder of that name wins)."""
    given = Path(path)
    if given.exists() or given.is_symlink() or str(path) not in SHIPPED_MODELS:
        if not given.exists() and not given.is_symlink() and given.name == str(path) and "/" not in str(path):
            raise TextgenError(f"{path} is neither a model directory nor a shipped model: give a folder written by "
                               f"`textgen train`, or a shipped name ({', '.join(sorted(SHIPPED_MODELS))})")
        return given
    folder = SHIPPED_DIR / SHIPPED_MODELS[str(path)]
    if not (folder / META_FILE).is_file():
        raise TextgenError(f"the shipped model {path} is missing from this installation ({folder}): "
                           "reinstall textgen (pip install --force-reinstall textgen-*.whl, or pip install . in its repository)")
    return folder


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def shipped_model_at(path: str | os.PathLike, follow_last: bool = True) -> str | None:
    """The short name of the shipped model whose folder holds `path` (or is it), else None: by its
    real path, and by identity (device and inode), so the folder reached through a bind mount, or
    one of its files through a hard link or a mounted file, is found too. With `follow_last`
    False a link at the end of `path` is not followed: it is the entry a write replaces (in a
    folder of links to the shipped files, the folder's own)."""
    path = Path(path)
    if follow_last or not path.is_symlink():
        target = os.path.realpath(path)
    else:
        target = os.path.join(os.path.realpath(path.parent), path.name)
    for name, folder in SHIPPED_MODELS.items():
        home = os.path.realpath(SHIPPED_DIR / folder)
        if target == home or target.startswith(home + os.sep):
            return name
        home_identity = _identity(home)
        if home_identity is None:
            continue
        if any(_identity(place) == home_identity for place in (target, *map(str, Path(target).parents))):
            return name
        if os.path.isfile(target) and not os.path.islink(target):
            with contextlib.suppress(OSError):
                files = {_identity(entry.path) for entry in os.scandir(home) if entry.is_file()}
                if _identity(target) in files:
                    return name
    return None


def refuse_shipped(path: str | os.PathLike, command: str = "", follow_last: bool = True) -> None:
    """No command writes into a shipped model (it belongs to the installation, and git tracks it):
    refuse a path inside one, with the command that makes a copy of one's own (and `command`, the
    refused command's name, to run on the copy). `follow_last`: see shipped_model_at."""
    name = shipped_model_at(path, follow_last)
    if name is None:
        return
    copy = f"`textgen export {name} my-{name} --dtype bfloat16`"
    if command:
        raise TextgenError(f"{path} is part of the shipped model {name}, which no command changes: make your own copy "
                           f"with {copy}, then run `textgen {command} my-{name}`")
    raise TextgenError(f"{path} is part of the shipped model {name}, which no command changes: write elsewhere (your own "
                       f"copy of it: {copy})")
