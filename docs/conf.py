"""Sphinx configuration of the skphys documentation.

Build with ``make -C docs html`` (warnings are errors) from the repository root; the package
must be importable (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

# The package is normally installed (editable) into the environment; falling back to the
# checkout keeps ``sphinx-build`` usable from a plain clone with the dependencies present.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import skphys  # noqa: E402
import torch  # noqa: E402

# The gallery examples and the doctests run in this process on small lattices, where torch's
# intra-op threads only add overhead; on a machine busy with other work they can make an
# example many times slower (its spinning threads compete for the cores). One thread keeps the
# build's timings those of one core, as the examples promise.
torch.set_num_threads(1)

# -- project -----------------------------------------------------------------------------------
project = "skphys"
author = "skphys developers"
copyright = "skphys developers"
release = importlib.metadata.version("skphys")
version = ".".join(release.split(".")[:2])

# -- extensions --------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.extlinks",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb"]
default_role = "obj"
root_doc = "index"

extlinks = {"arxiv": ("https://arxiv.org/abs/%s", "arXiv:%s")}

# -- autodoc / autosummary / numpydoc ----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True  # public modules re-export their private implementations
autosummary_ignore_module_all = False  # ... and ``__all__`` says which members are public
autodoc_typehints = "none"  # numpydoc's Parameters section carries the types
autodoc_member_order = "groupwise"
autodoc_default_options = {"members": True, "show-inheritance": True}
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False

# Members an estimator inherits from scikit-learn that are shown; the others (metadata
# routing, ``set_output``, ...) are scikit-learn machinery whose docstrings link into
# scikit-learn's own documentation.
SKLEARN_MEMBERS_SHOWN = {"get_params", "set_params", "fit_transform", "fit_predict"}


def skip_sklearn_machinery(app, what, name, obj, skip, options):
    """Hide members defined by scikit-learn unless listed in ``SKLEARN_MEMBERS_SHOWN``, and
    the ``torch.nn.Module`` machinery the flow layers inherit."""
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] == "sklearn" and name not in SKLEARN_MEMBERS_SHOWN:
        return True
    if module.split(".")[0] == "torch":
        return True
    return None  # let autodoc decide

# -- doctest -----------------------------------------------------------------------------------
# ``make -C docs doctest`` runs every ``>>>`` block of the pages and of the API reference; each
# block imports what it uses (no global setup), exactly as a reader would run it.

# -- sphinx-gallery ----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "doc_module": ("skphys",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skphys": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    # the examples run in two processes (joblib): each example is independent
    "parallel": 2,
}

# -- HTML --------------------------------------------------------------------------------------
# pydata-sphinx-theme when it is installed (the ``docs`` extra), else Sphinx's built-in theme.
if importlib.util.find_spec("pydata_sphinx_theme") is not None:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "secondary_sidebar_items": ["page-toc"],
    }
    # Pages without sub-pages need no section navigation on the left.
    html_sidebars = {
        page: []
        for page in (
            "index", "install", "quickstart", "conventions", "custom_theories", "estimators"
        )
    }
else:
    html_theme = "alabaster"
    html_theme_options = {"description": "ML-physics estimators on PyTorch"}
html_title = f"skphys {release}"
html_static_path: list[str] = []
html_show_sourcelink = False


def setup(app):
    app.connect("autodoc-skip-member", skip_sklearn_machinery)
