"""``python -m gradgen``: the same as the ``gradgen`` command (see :mod:`gradgen.cli`)."""

from gradgen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
