"""``make bench-gpu``: one prepared script that measures the paper-scale settings on one CUDA GPU.

Run ``python -m benchmarks.gpu`` (``--smoke``: tiny sizes on the CPU, what the CPU test runs).
``benchmarks/gpu/prepare.py`` builds the folder that travels to a GPU machine without internet
(wheels of the packages its image lacks + a CCP subset); README "GPU" has the one command.
"""
