"""The simulated world: DNS, destination servers, certificates."""
