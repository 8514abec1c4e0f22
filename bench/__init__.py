"""Linli's benchmark suite: ``python -m bench run [--quick | --smoke]`` (see ``bench/__main__.py``
and ``docs/performance.md``)."""
