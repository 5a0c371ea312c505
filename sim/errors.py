"""User-facing errors of the qmac flow.

Every error a user can cause (bad config, bad vectors, bad CLI arguments) is raised as a
:class:`UserError` subclass whose message is one line saying what is wrong and what is
allowed. The CLI prints it as ``qmac: error: <message>`` and exits with status 2.
"""


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit status 2."""


class ConfigError(UserError):
    """A datapath configuration (YAML file or override) is invalid."""


class VectorError(UserError):
    """A bring-your-own vector file is invalid."""


class ToolError(UserError):
    """A required external tool (simulator) is missing or too old."""


class OutputError(UserError):
    """A result could not be written (unwritable path, full disk); nothing partial is left."""
