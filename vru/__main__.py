"""``python -m vru``."""

from vru.cli import main

main()
