"""The `lam-ros` subcommands, one module each (add_arguments + run)."""
