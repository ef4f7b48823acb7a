"""The ``spikerec`` command: one module per sub-command, and :mod:`~spikerec.commands.cli`.

Each of :mod:`~spikerec.commands.simulate`, :mod:`~spikerec.commands.train`,
:mod:`~spikerec.commands.evaluate`, :mod:`~spikerec.commands.trace` and
:mod:`~spikerec.commands.compare` has a frozen ``...Options`` dataclass (checked when
made), a ``run(options)`` that does the work and writes the run folder, and a result
dataclass holding what the command prints. :mod:`~spikerec.commands.cli` is the only
module of spikerec that parses argv and prints; no other layer imports this package.
"""
