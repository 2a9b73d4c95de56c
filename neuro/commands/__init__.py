"""Sub-commands of the ``neuro`` CLI; every module here is imported by :mod:`neuro.cli`."""
