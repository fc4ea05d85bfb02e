"""The plan: its model, the pure planner, plan files, and making a plan for a request."""
