"""Evaluation: the paper's metrics, the WUDAPT figures, confusion plots and baselines.

``metrics`` holds pure functions of arrays; ``evaluate`` scores a model bundle on a patch store's
split; ``baselines`` compares SU-Net with a WUDAPT-style random forest and two ablations.
"""
