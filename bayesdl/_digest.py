"""Digests of code that change only with behaviour.

Both caches of the book key on code: a trained model on the modules that
build and train it, an executed chapter on the readers' package. Hashing the
raw bytes would retrain or re-execute on a docstring typo, so a module is
hashed as its syntax tree with the docstrings removed: comments, docstrings,
blank lines and layout never change a digest, while any change to what the
code does (a statement, a constant, a default) does.

A model's key follows imports: :func:`closure` starts from the modules that
train it and adds every ``bayesdl`` module they import, at any depth and
wherever the import stands (a function-level import counts too), so an edit
to ``models/layers.py`` changes the key of every model built from it. The
data fetchers are left out: what they deliver is verified by the MD5 sums of
the catalog, which are hashed instead (through ``data/catalog.py``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "bayesdl"

UNHASHED = frozenset(
    {"bayesdl.data._fetch", "bayesdl.cache", "bayesdl.recipes.mnist_schedules"}
)
"""Modules (a package: with every module in it) whose code never reaches a
model's key: the fetchers (``bayesdl.data._fetch``), whose output is checked
against the catalog's checksums before use; the cache itself, which
stores a model without changing it (its record carries a format number that
is checked on load); and the recorded schedule search
(``bayesdl.recipes.mnist_schedules``), whose only effect on a model is the
training it chooses, which the recipe's settings, and so the key, hold."""


def unhashed(name: str) -> bool:
    """Whether module ``name`` is in :data:`UNHASHED` or in a package there.

    Example:

    >>> unhashed("bayesdl.data._fetch.sources"), unhashed("bayesdl.data.store")
    (True, False)
    """
    return any(name == u or name.startswith(u + ".") for u in UNHASHED)


def _is_doc(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove every statement that is a bare string: docstrings of modules,
    classes and functions, and the attribute docstrings that follow an
    assignment (they do nothing when run)."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                kept = [stmt for stmt in body if not _is_doc(stmt)]
                if len(kept) != len(body):
                    setattr(node, field, kept or [ast.Pass()])
    return tree


def code_digest(source: str) -> str:
    """The SHA-256 of ``source``'s syntax tree, docstrings removed.

    Example:

    >>> code_digest("x = 1  # one") == code_digest("'Doc.'\\nx = (1)")
    True
    >>> code_digest("x = 1") == code_digest("x = 2")
    False
    """
    tree = _strip_docstrings(ast.parse(source))
    dumped = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dumped.encode()).hexdigest()


@functools.lru_cache(maxsize=512)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return code_digest(Path(path).read_text(encoding="utf-8"))


def file_digest(path: Path) -> str:
    """:func:`code_digest` of a file (memoised on its path, mtime and size)."""
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (a package's ``__init__.py``), if any."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(module: str, path: Path, level: int, target: str | None) -> str:
    """The absolute name of a (possibly relative) import in ``module``."""
    if level == 0:
        return target or ""
    parts = module.split(".")
    base = parts if _is_package(path) else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def imports(name: str) -> set[str]:
    """The ``bayesdl`` modules that module ``name`` imports, anywhere in it.

    ``from package import name`` counts as the submodule ``package.name``
    when there is one, else as ``package`` itself.

    Example:

    >>> "bayesdl.models.layers" in imports("bayesdl.models.bnn")
    True
    """
    path = module_file(name)
    if path is None:
        return set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if module_file(sub) is not None else base)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")} - {PACKAGE}


def closure(names: Iterable[str]) -> list[str]:
    """``names`` and every ``bayesdl`` module they import, transitively.

    The modules of :data:`UNHASHED` (and of its packages) are left out, and
    so are the imports made only through them.

    Example:

    >>> "bayesdl.models.layers" in closure(["bayesdl.models.bnn"])
    True
    """
    seen: set[str] = set()
    todo = [n for n in names if not unhashed(n)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(m for m in imports(name) if m not in seen and not unhashed(m))
    return sorted(seen)


def modules_digest(names: Iterable[str]) -> str:
    """A short digest of the code of :func:`closure` ``(names)``.

    Example:

    >>> len(modules_digest(["bayesdl.models.bnn"]))
    16
    """
    digest = hashlib.sha256()
    for name in closure(names):
        path = module_file(name)
        if path is None:
            raise ValueError(f"module {name} has no Python source file to hash.")
        digest.update(f"{name}\0{file_digest(path)}\0".encode())
    return digest.hexdigest()[:16]


def tree_digest(root: Path, exclude: Iterable[str] = ()) -> str:
    """A short digest of every ``.py`` file under ``root`` but ``exclude``.

    ``exclude`` holds paths relative to ``root`` (files, or folders whose
    whole content is left out).

    Example:

    >>> from bayesdl import config
    >>> len(tree_digest(config.package_dir(), exclude=["__main__.py"]))
    16
    """
    root = Path(root)
    skipped = [Path(e) for e in exclude]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or any(
            rel == s or s in rel.parents for s in skipped
        ):
            continue
        digest.update(f"{rel.as_posix()}\0{file_digest(path)}\0".encode())
    return digest.hexdigest()[:16]
