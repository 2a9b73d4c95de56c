"""SynSense Xylo: the one import path for the Xylo target."""
