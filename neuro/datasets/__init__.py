"""Event data: readers for real formats, transforms, public datasets, audio to spikes."""
