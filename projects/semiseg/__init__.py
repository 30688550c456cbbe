"""semiseg: MvpMatch (hierarchical thresholds + historical ensemble) on top of UniMatch V2."""
