"""Device-side ends of the virtual household: direct adapters and virtual devices speaking real protocols."""
