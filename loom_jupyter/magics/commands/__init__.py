"""One module per `%loom` subcommand: each has SUMMARY, configure(parser) and run(magics, args, cell)."""
