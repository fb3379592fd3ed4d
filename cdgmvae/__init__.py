"""cdgmvae: emotion-driven live music generation (CDGMVAE).

One import package. Its subpackages keep the design card's top-level folders in the source tree
(``engine/``, ``training/``, ``bridge/``, ``max4live/``); an install maps them under ``cdgmvae``
through setuptools' package-dir (pyproject.toml), so a wheel holds ``cdgmvae/`` alone. Run from a
source tree without an install, the package's search path also covers the tree's root, so that
``cdgmvae.engine`` is ``engine/`` there as well.
"""
from pathlib import Path as _Path

_TREE = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "engine").is_dir() and (_TREE / "engine" / "__init__.py").is_file():
    __path__.append(str(_TREE))  # noqa: F821 (a package's __path__)
