"""The ``spikerec`` command: one module per subcommand, and :mod:`~spikerec.commands.cli`,
the only module of spikerec that parses argv and prints."""
