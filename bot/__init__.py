"""scalebot: works the difference between a policy's target position and the current one with passive orders."""

__version__ = "0.1.0"
