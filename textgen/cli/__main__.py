"""python -m textgen.cli"""

from textgen.cli import main

main()
