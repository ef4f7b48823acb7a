"""``python -m spikerec``: the ``spikerec`` command (also what torchrun launches)."""

from spikerec.commands.cli import main

raise SystemExit(main())
