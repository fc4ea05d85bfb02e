"""Which stages exist where: the registry (`registry`), the destination (`local`), and the
plain data the planner reads (`model`)."""
