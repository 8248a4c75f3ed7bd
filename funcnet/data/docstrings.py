"""An offline text corpus: the docstrings of a fixed list of Python standard-library modules.

Nothing is downloaded: the text is collected at run time from the modules the running Python
ships, in a fixed order (modules as listed; within a module its own docstring, then its public
functions and classes by name, each class followed by its public methods by name). The text
therefore depends on the Python version only. Also: :func:`word_tokens` (lowercase words),
:func:`build_vocab` (most frequent words, a minimum count, ``<unk>`` at id 0) and
:func:`encode`.

Examples:
  >>> text = stdlib_docstrings(("json",))
  >>> "JSON" in text
  True
  >>> word_tokens("Return the JSON string, or None.")
  ['return', 'the', 'json', 'string', 'or', 'none']
"""

from __future__ import annotations

import collections
import importlib
import inspect
import re
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import NamedTuple

import numpy as np

# Modules with plenty of prose, in alphabetical order; none with import side effects (no GUI,
# no `this`/`antigravity`), none deprecated in 3.11–3.13.
DEFAULT_MODULES: tuple[str, ...] = (
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "builtins", "calendar", "cmd",
    "codecs", "collections", "concurrent.futures", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "doctest", "email", "email.headerregistry",
    "email.message", "email.parser", "email.policy", "email.utils", "enum", "filecmp", "fileinput",
    "fnmatch", "fractions", "ftplib", "functools", "getpass", "gettext", "glob", "gzip", "hashlib",
    "heapq", "hmac", "html", "html.parser", "http.client", "http.cookiejar", "http.cookies",
    "http.server", "imaplib", "importlib", "importlib.abc", "importlib.metadata",
    "importlib.resources", "importlib.util", "inspect", "io", "ipaddress", "itertools", "json",
    "locale", "logging", "logging.config", "logging.handlers", "lzma", "mailbox", "math",
    "mimetypes", "multiprocessing", "multiprocessing.connection", "multiprocessing.managers",
    "multiprocessing.pool", "netrc", "numbers", "operator", "optparse", "os", "os.path", "pathlib",
    "pdb", "pickle", "pickletools", "pkgutil", "platform", "plistlib", "poplib", "posix", "pprint",
    "profile", "pstats", "pydoc", "queue", "quopri", "random", "re", "reprlib", "sched", "secrets",
    "selectors", "shelve", "shlex", "shutil", "signal", "smtplib", "socket", "socketserver",
    "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "symtable", "sys",
    "sysconfig", "tabnanny", "tarfile", "tempfile", "textwrap", "threading", "time", "timeit",
    "tokenize", "trace", "traceback", "types", "typing", "unittest", "unittest.mock",
    "urllib.error", "urllib.parse", "urllib.request", "urllib.robotparser", "uuid", "warnings",
    "wave", "weakref", "webbrowser", "xml.dom.minidom", "xml.etree.ElementTree", "xml.sax",
    "xml.sax.saxutils", "xmlrpc.client", "xmlrpc.server", "zipfile", "zipimport", "zlib",
)  # fmt: skip

UNK = "<unk>"


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # a module missing from this build (no _ssl, no _sqlite3) is skipped
        return None


def _own_doc(obj: object) -> str | None:
    """``obj``'s own docstring, dedented; never one inherited from a base class."""
    doc = getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def _public(namespace: dict[str, object]) -> list[tuple[str, object]]:
    return sorted((k, v) for k, v in namespace.items() if not k.startswith("_"))


def _defined_in(obj: object, name: str) -> bool:
    """Whether ``obj`` comes from module ``name``, a submodule of it or its C part ``_name``."""
    home = getattr(obj, "__module__", None)
    return isinstance(home, str) and (home in (name, f"_{name}") or home.startswith(f"{name}."))


def _module_objects(module: ModuleType) -> Iterator[object]:
    """The module, then its own public functions and classes by name, methods after each class."""
    yield module
    for _, obj in _public(vars(module)):
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if not _defined_in(obj, module.__name__):
            continue  # imported from elsewhere: its own module contributes it
        yield obj
        if inspect.isclass(obj):
            for _, member in _public(vars(obj)):
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isroutine(member) or isinstance(member, property):
                    yield member


def stdlib_docstrings(modules: Sequence[str] = DEFAULT_MODULES) -> str:
    """The docstrings of ``modules`` as one text, docstrings separated by blank lines.

    Modules that fail to import are skipped; an object reachable twice (an alias, a function
    re-exported by a package) contributes its docstring once.

    Args:
      modules: dotted module names, in the order their text appears.

    Returns:
      The corpus: about 1 MB of English prose and code examples (160k words) for the
      default modules on CPython 3.11.
    """
    seen: set[int] = set()
    docs: list[str] = []
    with warnings.catch_warnings():  # importing or reading a deprecated alias may warn
        warnings.simplefilter("ignore")
        for name in modules:
            module = _import(name)
            if module is None:
                continue
            for obj in _module_objects(module):
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                doc = _own_doc(obj)
                if doc is not None:
                    docs.append(doc)
    return "\n\n".join(docs)


_WORD = re.compile(r"[a-z]+")


def word_tokens(text: str) -> list[str]:
    """The lowercase words of ``text``: maximal runs of letters ``a``–``z`` after lowercasing.

    Digits, punctuation and underscores separate words (``read_text`` is ``read``, ``text``).
    """
    return _WORD.findall(text.lower())


class Vocab(NamedTuple):
    """A word list and its index; id 0 is ``<unk>``, then words from most to least frequent."""

    words: tuple[str, ...]
    counts: tuple[int, ...]  # counts[i] of words[i]; counts[0] sums the words left out
    index: dict[str, int]

    def __len__(self) -> int:
        return len(self.words)


def build_vocab(tokens: Sequence[str], max_size: int | None = None, min_count: int = 1) -> Vocab:
    """The most frequent tokens (ties in alphabetical order), at least ``min_count`` each.

    Args:
      tokens: the token stream.
      max_size: the vocabulary size including ``<unk>`` (``None``: no limit).
      min_count: the fewest occurrences a word needs to be kept.
    """
    if max_size is not None and (isinstance(max_size, bool) or max_size < 2):
        raise ValueError(f"build_vocab: expected max_size >= 2 or None, got {max_size!r}.")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(
            f"build_vocab: expected min_count to be an integer >= 1, got {min_count!r}."
        )
    counts = collections.Counter(tokens)
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    kept = ranked[: None if max_size is None else max_size - 1]
    unknown = len(tokens) - sum(counts[w] for w in kept)
    words = (UNK, *kept)
    return Vocab(words, (unknown, *(counts[w] for w in kept)), {w: i for i, w in enumerate(words)})


def encode(tokens: Sequence[str], vocab: Vocab) -> np.ndarray:
    """Token ids (``int32``); a word outside the vocabulary gets ``<unk>``'s id 0."""
    return np.fromiter((vocab.index.get(t, 0) for t in tokens), np.int32, count=len(tokens))
