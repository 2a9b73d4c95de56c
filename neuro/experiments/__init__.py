"""Complete experiments behind the train / eval / experiment commands."""
