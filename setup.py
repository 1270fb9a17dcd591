"""The one thing pyproject.toml can't yet say without a warning: the compiled kernels.

``emojisketch/_kernels.c`` (the ink pipeline's simplification and rasteriser and the net's
inference, loaded by ``emojisketch/native.py``) is built when a C compiler is there; it is
optional, so without one the install goes on and the numpy and torch code, which give the
same results, runs instead.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "emojisketch/_kernels.c"
# the source's checksum goes into the library, so that emojisketch/native.py can tell a build
# left over from an older source (an editable install after a pull) and not call it
SHA256 = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()

setup(ext_modules=[Extension("emojisketch._kernels", [SOURCE], extra_compile_args=["-O3"],
                             define_macros=[("ES_SOURCE_SHA256", f'"{SHA256}"')], optional=True)])
