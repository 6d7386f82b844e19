"""``python -m refnet`` is the ``refnet`` command."""
import sys

from .cli import main

sys.exit(main())
