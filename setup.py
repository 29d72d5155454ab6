"""Build script: the package, the grammar and example rulesets as package data, the Cython extensions.

Environment switches:
- ``RULEDSL_NO_EXTENSIONS=1``: pure-Python build (no compiler needed; slower).
- ``RULEDSL_DEBUG=1``: compile extensions with bounds checks and asserts on.

Without a working C compiler (or Python headers, or Cython) the build does
not fail: it prints FALLBACK_WARNING and installs the pure-Python kernels
(``ruledsl.kernels.*_py``), which ``ruledsl.kernels.state`` selects when the
extensions cannot be imported.  ``ruledsl --version`` says which are in use.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

NO_EXT = os.environ.get("RULEDSL_NO_EXTENSIONS", "") not in ("", "0")
DEBUG = os.environ.get("RULEDSL_DEBUG", "") not in ("", "0")

# The state kernels; they cimport each other through the .pxd files beside them
# (slots.pxd: the shared slot table, entries.pxd / accel.pxd: window internals,
# convert.pxd: argument conversions), which package_data ships with the .pyx.
EXTENSIONS = [
    "ruledsl.kernels.slots",
    "ruledsl.kernels.accel",
    "ruledsl.kernels.frozen",
    "ruledsl.kernels.windows",
    "ruledsl.kernels.sequences",
    "ruledsl.kernels.hashing",
]


FALLBACK_WARNING = """
==============================================================================
ruledsl: the Cython kernels were NOT compiled ({reason}).
ruledsl is installed with its pure-Python kernels instead: same behaviour and
results, but windows and sequences are several times slower.  For the fast
kernels, install a C compiler and the Python headers (Debian/Ubuntu:
apt-get install gcc python3-dev; RHEL/Fedora: dnf install gcc python3-devel;
macOS: xcode-select --install; Windows: Microsoft C++ Build Tools) and
reinstall; `ruledsl --version` says which kernels are in use.  Set
RULEDSL_NO_EXTENSIONS=1 to build without them and without this message.
==============================================================================
"""


def warn_fallback(reason):
    """Print FALLBACK_WARNING on stderr (pip shows it with -v; `ruledsl --version` tells later)."""
    sys.stderr.write(FALLBACK_WARNING.format(reason=" ".join(str(reason).split())[:300]))
    sys.stderr.flush()


class OptionalBuildExt(build_ext):
    """build_ext whose failure leaves a working pure-Python install instead of a long traceback."""

    failed = None

    def run(self):
        """Build every extension; a failure outside build_extension (no compiler at all) falls back too."""
        try:
            super().run()
        except Exception as err:  # no compiler at all (DistutilsPlatformError), a broken toolchain, ...
            self._fall_back(err)

    def build_extension(self, ext):
        """Build one extension, or fall back to the pure-Python kernels on the first failure."""
        if self.failed is not None:
            return  # all or nothing: the kernels cimport each other
        try:
            super().build_extension(ext)
        except Exception as err:  # CompileError, LinkError, DistutilsExecError, OSError
            self._fall_back(err)

    def _fall_back(self, err):
        if self.failed is None:
            self.failed = err
            warn_fallback(f"{type(err).__name__}: {err}")
        # an extension built before the failure would mix compiled and pure kernels: remove it
        for ext in self.extensions:
            path = self.get_ext_fullpath(ext.name)
            if os.path.exists(path):
                os.remove(path)
        self.extensions = []

    def get_outputs(self):
        """Nothing to install after a fallback."""
        return [] if self.failed is not None else super().get_outputs()


def extensions():
    """The Cython extension modules, or none for a pure-Python build (or when Cython is missing)."""
    if NO_EXT:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as err:
        warn_fallback(f"Cython is not installed: {err}")
        return []
    from setuptools import Extension

    directives = {
        "language_level": 3,
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        "initializedcheck": DEBUG,
        "cdivision": True,
    }
    mods = [
        Extension(name, [name.replace(".", "/") + ".pyx"], extra_compile_args=["-O2"] if not DEBUG else ["-O0", "-g"])
        for name in EXTENSIONS
    ]
    return cythonize(mods, compiler_directives=directives, quiet=True)


setup(
    packages=[
        "ruledsl", "ruledsl.grammar", "ruledsl.syntax", "ruledsl.check", "ruledsl.compile", "ruledsl.runtime",
        "ruledsl.kernels", "ruledsl.stores", "ruledsl.oracle", "ruledsl.ruletest", "ruledsl.sim", "ruledsl.lab",
        "ruledsl.serve", "ruledsl.cli", "ruledsl.cli.lsp", "ruledsl.rulesets",
    ],
    # the example rulesets ship as ruledsl/rulesets (the demo and `ruledsl.sim` read them from there)
    package_dir={"ruledsl.grammar": "grammar", "ruledsl.rulesets": "rulesets"},
    package_data={
        "ruledsl.rulesets": ["*.rdsl", "common/*.rdsl", "examples/*.jsonl", "lists/*", "tests/*.yaml"],
        "ruledsl.grammar": ["*.lark"],
        "ruledsl": ["py.typed"],
        "ruledsl.kernels": ["*.pyx", "*.pxd"],
        "ruledsl.stores": ["*.lua"],
        "ruledsl.lab": ["templates/*.j2"],
    },
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    zip_safe=False,
)
