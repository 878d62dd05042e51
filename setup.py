"""Builds the optional C accelerator bot.core._fastjunit; all metadata lives in pyproject.toml.

optional=True: without a compiler or expat.h the install still succeeds and ci-truth uses
its pure-Python reader (bot/core/xmlaccel.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bot.core._fastjunit", ["bot/core/_fastjunit.c"],
                             libraries=["expat"], optional=True)])
