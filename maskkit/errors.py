"""The exceptions maskkit raises for problems a user can fix.

Every message is one line that names the file (or option) and what is wrong with it: the CLI
prints ``maskkit: error: <message>`` (or the error's ``cli_message``, the same advice in terms
of flags) and exits 1 (2 for an :class:`OptionError`, a usage
mistake), so the message is all the user sees. Anything
that is not a :class:`MaskkitError` is a bug and keeps its traceback.

The conformance manifest (``fixtures/format/manifest.json``) names these classes, so renaming one
is a format-level change.
"""

from __future__ import annotations


class MaskkitError(Exception):
    """A problem with the user's input, options or environment (exit code 1).

    The message speaks to a Python caller, naming parameters (``weights=``). Where the advice
    differs on the command line, ``cli_message`` says the same in terms of the commands and
    their flags (``--weights``); the CLI prints it instead of the message.
    """

    def __init__(self, *args: object, cli_message: str | None = None) -> None:
        super().__init__(*args)
        self.cli_message = cli_message


class FormatError(MaskkitError):
    """The bytes are not a well-formed safetensors file or maskkit artifact."""


class VersionError(FormatError):
    """The artifact declares a format major version this reader does not know."""


class IntegrityError(FormatError):
    """The artifact is well formed but its recorded counts or content hash disagree with its tensors."""


class KindError(MaskkitError):
    """The artifact is valid but of the wrong kind for the operation (a scores file given to train)."""


class ModelMismatchError(MaskkitError):
    """An artifact's tensors do not fit a model: missing or unexpected names, or other shapes."""


class OptionError(MaskkitError):
    """An option value is out of range or unknown (the message lists what is accepted).

    The CLI treats every OptionError as a usage mistake: exit code 2.
    """


class DataError(MaskkitError):
    """A dataset is missing, corrupt or too small; the message says where maskkit looked."""


class TrainingError(MaskkitError):
    """Training cannot go on: NaN loss, or a checkpoint folder that belongs to another run."""


class UntrustedCodeError(MaskkitError):
    """A file names a ``package.module:callable`` that the user has not chosen to run."""


class UserCodeError(MaskkitError):
    """The user's own model or dataset code raised; the message names the user's file and line.

    The original exception is the ``__cause__`` (``--debug`` shows its traceback).
    """


class MaskkitWarning(UserWarning):
    """A result that is valid but probably not what was meant (the CLI prints it on stderr)."""
