"""`python -m mfi_sim` is the same as `mfi-sim`."""
import sys

from .cli import main

sys.exit(main())
