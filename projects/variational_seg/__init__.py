"""variational_seg: weighted bounded-Hessian selective segmentation from marker points (ADMM + FFT).

Spec: ``../shared/notes/variational.md``; README in this folder. The solver is a pure batched torch
function (:func:`projects.variational_seg.solver.solve`); everything else wraps it.
"""
