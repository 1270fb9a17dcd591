"""The one thing pyproject.toml can't yet say without a warning: the compiled kernels.

``emojisketch/_kernels.c`` (rasterising and the net's inference, loaded by
``emojisketch/native.py``) is built when a C compiler is there; it is optional, so without one
the install goes on and the numpy and torch code, which give the same results, runs instead.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("emojisketch._kernels", ["emojisketch/_kernels.c"],
                             extra_compile_args=["-O3"], optional=True)])
