"""metalearn: discover reinforcement-learning algorithms with evolution strategies."""

__version__ = "0.1.0"
