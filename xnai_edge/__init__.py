"""xnai-edge: an offline voice assistant appliance that answers from the owner's documents."""

__version__ = "0.1.0"
