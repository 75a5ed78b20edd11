"""The error jaxil raises for what it is given: a bad name, shape, value, file or option."""

from __future__ import annotations


class InputError(ValueError):
    """What a caller gave jaxil is wrong: an unknown name, a shape or value out of range, a
    malformed file, an option that does not apply. The message says what and where.

    A :class:`ValueError`, so ``except ValueError`` still catches it. The ``jaxil`` command
    reports it in one line (:func:`jaxil.cli.run`); any other exception is a bug in jaxil or
    below it and keeps its traceback.
    """
