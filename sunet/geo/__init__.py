"""Geometry and raster I/O shared by tiling and mapping: the patch grid, scene reading, labels."""
