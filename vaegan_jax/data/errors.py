"""The one error the data package raises for bad input."""


class DataError(ValueError):
  """The data cannot be read as configured; the message says what to do."""
