"""The commands for people, on top of the stages: `wpqa` and its subcommands."""
