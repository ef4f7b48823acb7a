"""Exceptions of spikerec that are not plain bad input (those raise ``ValueError``)."""


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the message names epoch and step."""
