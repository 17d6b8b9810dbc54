"""gridedge: an open, standards-based energy system for the edge of the grid."""

__version__ = "0.1.0"
