"""``python -m paralens …`` is the ``paralens`` command."""

from .interpreters.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
