"""Subcommand modules of the ``gantry`` CLI, one per command group (see ``pipeline_lib.cli``)."""
