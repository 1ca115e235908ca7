"""Analysis of a finished map: urban canopy parameters from the LCZ abundances.

``parameters`` holds the parameter table (Stewart & Oke's class values, each parameter's
aggregation rule) and pure functions of arrays.
"""
