"""`python -m mfi_sim.scenario [README.md]`: print the field reference table, or rewrite it in a README."""
import sys
from pathlib import Path

from .fields import markdown_table, update_readme

if len(sys.argv) > 1:
    target = Path(sys.argv[1])
    print(f"{target}: {'updated' if update_readme(target) else 'up to date'}")
else:
    print(markdown_table(), end="")
