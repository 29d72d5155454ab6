"""Build script: the package, the grammar as package data, the Cython extensions.

Environment switches:
- ``RULEDSL_NO_EXTENSIONS=1``: pure-Python build (no compiler needed; slower).
- ``RULEDSL_DEBUG=1``: compile extensions with bounds checks and asserts on.
"""

import os

from setuptools import setup

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


def extensions():
    """The Cython extension modules, or none for a pure-Python build."""
    if NO_EXT:
        return []
    from Cython.Build import cythonize
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
        "ruledsl.serve", "ruledsl.cli",
    ],
    package_dir={"ruledsl.grammar": "grammar"},
    package_data={
        "ruledsl.grammar": ["*.lark"],
        "ruledsl": ["py.typed"],
        "ruledsl.kernels": ["*.pyx", "*.pxd"],
        "ruledsl.stores": ["*.lua"],
        "ruledsl.lab": ["templates/*.j2"],
    },
    ext_modules=extensions(),
    zip_safe=False,
)
