"""Command line: ``hf-select <command>``; one module per subcommand."""
