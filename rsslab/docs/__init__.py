"""The published site: pages generated from results, claims and patch series.

``evidence`` gathers what was measured and which claims it checked;
``sweeps`` runs the host measurements the pages need when they are missing;
``plots`` draws the figures; ``pages`` and ``patchpages`` write the
generated reStructuredText; ``sphinxext`` gives the pages their ``claim``
and ``obs`` roles and the ``claimed`` directive; ``site`` puts it together
and runs ``sphinx-build -W``.
"""
