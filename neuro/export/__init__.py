"""Hardware export: NIR graphs and Loihi deployment files."""
