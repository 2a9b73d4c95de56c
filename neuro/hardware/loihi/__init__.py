"""Intel Loihi (Lava's bit-accurate CPU models): network description, simulator, quantizer, netx files, Lava bridge."""
