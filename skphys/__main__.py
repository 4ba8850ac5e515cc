"""``python -m skphys``: the skphys command line."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
