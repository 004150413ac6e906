"""Sphinx configuration for the rsslab site.

``rsslab docs`` copies this directory to build/docs/src, adds the pages
generated from the results, and runs ``sphinx-build -W`` on the copy.
The published address is ``[tool.rsslab.docs] baseurl`` in pyproject.toml
(or the RSSLAB_DOCS_BASEURL environment variable).
"""

import json
import os
import tomllib
from pathlib import Path

import rsslab.paths

_here = Path(__file__).resolve().parent
_root = rsslab.paths.project_root()
_settings = tomllib.loads((_root / "pyproject.toml").read_text())
_docs = _settings.get("tool", {}).get("rsslab", {}).get("docs", {})

project = "rsslab"
author = "the rsslab authors"
copyright = "the rsslab authors, GPL-2.0-only"
release = _settings["project"]["version"]

extensions = ["rsslab.site.sphinxext"]
exclude_patterns = ["_generated", "_repro", "_data", "_patches", "plots"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_css_files = ["rsslab.css"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1200px", "sidebar_width": "220px"}
html_baseurl = os.environ.get("RSSLAB_DOCS_BASEURL", _docs.get("baseurl", ""))
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
suppress_warnings: list[str] = []
nitpicky = True

_evidence = _here / "_data" / "evidence.json"
rsslab_evidence = json.loads(_evidence.read_text()) if _evidence.exists() else {}
