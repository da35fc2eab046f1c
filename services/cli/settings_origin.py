"""Where `newswire` gets its settings: the environment, then `var/newswire.env`.

`make run` writes var/newswire.env in the checkout while its stack runs (its Redis socket,
ports, artifact directory), so `newswire …` run there finds that stack with nothing set.
The environment wins over the file, variable by variable. Only this command reads the
file; the services take their settings from the environment alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic_settings import SettingsConfigDict

from shared.settings import Settings

# Relative to where `newswire` runs: the checkout's root, where `make run` runs.
ENV_FILE = Path("var") / "newswire.env"
_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*")

Source = Literal["environment", "file", "default"]


class _StackSettings(Settings):
    # The file may hold more than settings (or settings of a newer version): skip those,
    # rather than refuse every command.
    model_config = SettingsConfigDict(**{**Settings.model_config, "extra": "ignore"})


@dataclass(frozen=True)
class SettingsOrigin:
    settings: Settings
    env_file: Path | None  # the file read, if there was one
    redis_from: Source  # where the Redis URL came from

    @property
    def redis(self) -> str:
        """The Redis URL as it may be shown: any password hidden."""
        return shown_url(self.settings.redis_url)

    @property
    def redis_source(self) -> str:
        """Where the Redis URL came from, in words."""
        return {
            "environment": "from NEWSWIRE_REDIS_URL in the environment",
            "file": f"from {ENV_FILE}",
            "default": f"the default: no NEWSWIRE_REDIS_URL, no {ENV_FILE} here",
        }[self.redis_from]

    @property
    def redis_source_name(self) -> str:
        """Where the Redis URL came from, for scripts: environment, the file's path, default."""
        return str(ENV_FILE) if self.redis_from == "file" else self.redis_from

    def cannot_reach(self, error: Exception) -> str:
        """What to say when Redis does not answer, and what to do next."""
        why = str(error).rstrip(".")
        said = f"cannot reach Redis at {self.redis} ({self.redis_source}): {why}."
        if self.redis_from == "environment":
            return f"{said} Is that server running? Start it, or set NEWSWIRE_REDIS_URL right."
        if self.redis_from == "file":
            return (
                f"{said} Is `make run` still running in this checkout? Start it, or set "
                "NEWSWIRE_REDIS_URL to the Redis to use."
            )
        return (
            f"{said} Start the stack with `make run` and run newswire in its checkout (it "
            f"writes {ENV_FILE}), or set NEWSWIRE_REDIS_URL to the Redis to use."
        )


def load_settings(env_file: Path = ENV_FILE) -> SettingsOrigin:
    """Settings from the environment and, if it exists, `env_file` (relative: to here).

    Raises:
        pydantic.ValidationError: a setting is invalid (the message names it).
    """
    if not env_file.is_file():
        settings = Settings()
        source: Source = "environment" if "redis_url" in settings.model_fields_set else "default"
        return SettingsOrigin(settings, None, source)
    settings = _StackSettings(_env_file=env_file)
    if "redis_url" in Settings().model_fields_set:
        source = "environment"
    else:
        source = "file" if "redis_url" in settings.model_fields_set else "default"
    return SettingsOrigin(settings, env_file, source)


def shown_url(url: str) -> str:
    """`url` with its password (in the authority or a `password=` parameter) hidden."""
    parts = urlsplit(url)
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        hidden = f"{user.partition(':')[0]}:***@{host}"
        url = url.replace(f"{parts.scheme}://{parts.netloc}", f"{parts.scheme}://{hidden}", 1)
    return _PASSWORD_PARAMETER.sub(r"\1***", url)
