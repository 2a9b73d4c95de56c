"""Sub-commands of the ``neuro`` CLI: every module here registers its commands (:mod:`neuro.commands.registry`)."""
