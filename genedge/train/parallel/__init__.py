"""Training on several processes with DistributedDataParallel, one job per module.

The public face is :mod:`genedge.train.distributed`, which re-exports every helper here.
"""
