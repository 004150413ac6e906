"""Kernel patches: source trees, semantic edits, series, builds and proof.

``kernelpatches/<name>/`` defines each patch once (edits, message, targets,
config fragment); these modules turn it into a ``git format-patch`` series
for a tree of its regime and prove it on a booted kernel.
"""
