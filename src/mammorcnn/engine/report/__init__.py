"""Review pages of evaluations and predictions (HTML), bootstrap intervals, and comparisons.

Submodules are imported where used: the metrics report imports the bootstrap while the HTML
writers import the metrics, so this package's top level stays free of both.
"""
