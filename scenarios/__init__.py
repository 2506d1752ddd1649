"""Bundled scenarios, one failure story per file; installed with the package as mfi_sim.scenarios."""
