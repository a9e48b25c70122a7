"""Measuring this machine: the ``local`` device profile (calibrated with a real engine)
and the timing helpers every command that reports milliseconds uses."""
