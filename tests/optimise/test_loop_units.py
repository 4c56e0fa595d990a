"""Fast in-process checks of the closed loop (values, policy, training) for mutation testing."""
