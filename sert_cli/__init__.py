"""sert: transporter (SERT/NET) occupancy and dose calculator for antidepressants.

An educational and research tool, not a prescribing device.
"""

__version__ = "0.1.0"
