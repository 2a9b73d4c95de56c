"""Learning rules and readouts: HLOP, continual learning, readouts, metrics."""
