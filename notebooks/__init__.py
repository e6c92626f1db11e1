"""The course's lesson notebooks, installed as the package ``rtt_edu.lessons``.

This file only lets Python find this folder as ``rtt_edu.lessons`` in an editable install
(see ``[tool.setuptools]`` in pyproject.toml); ``rtt-edu lessons DIR`` copies the notebooks out.
"""
