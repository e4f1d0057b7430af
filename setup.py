"""The compiled parts of skydns-stack, each optional: the package is complete
without them (the same source runs, slower).

* The per-question path of skydns (the modules in ``NATIVE``, read from
  ``skydns_common/native.py``) compiled by mypyc from its own Python source:
  the same code, not a second copy of the rules.
* ``skydns._udp``: UDP questions read and replies sent in batches
  (recvmmsg/sendmmsg), which Python's socket module does not offer.

Set ``SKYDNS_PURE=1`` to build neither.  When a compiler, mypyc or a
type check fails, the build says so and goes on without that part; every
other setting lives in ``pyproject.toml``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _native_modules() -> tuple[str, ...]:
    """The list in skydns_common/native.py, read without importing the package."""
    scope: dict[str, object] = {}
    text = (ROOT / "skydns_common" / "native.py").read_text()
    start = text.index("NATIVE = (")
    exec(text[start:text.index(")", start) + 1], scope)  # noqa: S102 - our own constant
    return scope["NATIVE"]  # type: ignore[return-value]


def _path(module: str) -> str:
    return module.replace(".", "/") + ".py"


def _digest(path: str) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


#: the C source of the UDP batch (its digest is kept under this path)
UDP_SOURCE = "skydns/_udp.c"


class OptionalBuildExt(build_ext):
    """build_ext that leaves out what does not compile, and writes the
    digests of the sources it compiled (skydns_common/native.json) so the
    package can tell a compiled copy from an edited source.  The digests
    are those of the sources as they were read when the build began (mypyc
    generates its C then), not as they are when the compiler is done."""

    failed: set[str]

    def run(self) -> None:
        self.failed = set()
        self.to_source = bool(self.inplace or self.editable_mode)  # the base class clears inplace
        super().run()

    def build_extensions(self) -> None:
        super().build_extensions()
        mypyc = [e.name for e in self.extensions if e.name != "skydns._udp"]
        whole = bool(mypyc) and not self.failed.intersection(mypyc)
        if not whole:  # compiled modules need each other: all of them or none
            for name in mypyc:
                Path(self.get_ext_fullpath(name)).unlink(missing_ok=True)
            self.failed.update(mypyc)
        # what is left out is not an output (an editable install copies the outputs)
        self.extensions = [e for e in self.extensions if e.name not in self.failed]
        built = {m: d for m, d in DIGESTS.items() if whole or m == UDP_SOURCE}
        if "skydns._udp" in self.failed:
            built.pop(UDP_SOURCE, None)
        if self.to_source:
            _drop_leftovers({e.name for e in self.extensions})
        text = json.dumps(built, indent=1, sort_keys=True) + "\n"
        for target in [Path(self.build_lib)] + ([ROOT] if self.to_source else []):
            manifest = target / "skydns_common" / "native.json"
            manifest.parent.mkdir(parents=True, exist_ok=True)
            manifest.write_text(text)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - a compiled part is optional
            self.failed.add(ext.name)
            print(f"skydns-stack: not compiling {ext.name} ({exc}); it runs from its Python source",
                  file=sys.stderr)


def _drop_leftovers(built: set[str]) -> None:
    """Delete the checkout's compiled modules this build did not make (one
    taken out of NATIVE, or one that failed): the usual import finder would
    prefer them to their source."""
    for so in [*ROOT.glob("*.so"), *ROOT.glob("skydns/*.so"), *ROOT.glob("skydns_common/*.so")]:
        name = ".".join(so.relative_to(ROOT).with_suffix("").with_suffix("").parts)
        if name not in built:
            so.unlink()


def _extensions() -> list[Extension]:
    if os.environ.get("SKYDNS_PURE"):
        return []
    exts = [Extension("skydns._udp", ["skydns/_udp.c"])]
    try:
        from mypyc.build import mypycify

        exts += mypycify([_path(m) for m in NATIVE], opt_level="3", group_name="skydns_native")
    except BaseException as exc:  # noqa: BLE001 - mypyc exits on a type error: go on without it
        print(f"skydns-stack: not compiling with mypyc ({exc!r}); the Python source runs as it is",
              file=sys.stderr)
    return exts


NATIVE = _native_modules()
#: read before mypyc reads the sources, so that an edit made during the build shows as stale
DIGESTS = {**{m: _digest(_path(m)) for m in NATIVE}, UDP_SOURCE: _digest(UDP_SOURCE)}
setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
