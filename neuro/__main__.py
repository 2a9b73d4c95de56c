"""``python -m neuro`` is the ``neuro`` command."""

import sys

from neuro.cli import main

sys.exit(main())
