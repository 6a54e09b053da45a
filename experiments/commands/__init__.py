"""One module per ``polylab`` subcommand: ``HELP``, ``add_arguments(parser)``, ``run(args) -> int``."""
