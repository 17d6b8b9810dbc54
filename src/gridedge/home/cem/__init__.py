"""The consumer energy manager: the LPC/LPP limit state machine, the control cycle, the near-limit
notifier and the planner."""
