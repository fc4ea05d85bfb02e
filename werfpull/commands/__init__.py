"""The library entry points behind each CLI subcommand: one module per command."""
