"""SU-Net Local Climate Zone mapping."""
