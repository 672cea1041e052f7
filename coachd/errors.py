"""Exception hierarchy for coachd."""


class CoachdError(Exception):
    """Base class for all coachd errors."""


class ConfigError(CoachdError):
    """Invalid or unreadable configuration.

    ``key`` is the dotted configuration key at fault (e.g. ``"ari.url"``), or
    ``None`` when the problem is not tied to one key (missing file, bad TOML).
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key

    def __str__(self) -> str:
        if self.key is None:
            return self.message
        return f"{self.key}: {self.message}"
