"""One library entry point per subcommand. No command imports another: what two
commands share lives in the step it belongs to (plan/, apply/, project.py)."""
