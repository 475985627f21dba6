"""Environment readers that refuse a bad value at start-up instead of guessing."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str | None = None) -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, object]:
    """Turn postgres://user:pass@host:port/name?sslmode=... into a DATABASES entry.

    Only PostgreSQL is accepted: the engine relies on exclusion constraints.
    A host starting with '%2F' (URL-encoded '/') is a unix socket directory.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// URL, not {parts.scheme!r}: the marketplace needs PostgreSQL features."
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL has no database name.")
    options: dict[str, str] = {}
    if parts.query:
        for pair in parts.query.split("&"):
            key, _, value = pair.partition("=")
            options[key] = unquote(value)
    host = unquote(parts.hostname or "") if parts.hostname else ""
    if "host" in options:  # libpq style: ?host=/path/to/socket
        host = options.pop("host")
    return {
        "ENGINE": "marketplace.pgbackend",  # Django's, with a cheaper health check
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }


# ---------------------------------------------------------------- encryption in transit (issue 14 item 7)
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def readable_file(name: str, path: str) -> str:
    """A CA or certificate file a setting names: refused at start-up when it cannot be read."""
    if path:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}={path!r} cannot be read: {exc.strerror}.") from exc
    return path


def database_tls(
    entry: dict[str, object], *, sslmode: str, sslrootcert: str, require_verified: bool, allow_insecure: bool
) -> None:
    """Put libpq's TLS options into a DATABASES entry (DATABASE_SSLMODE / DATABASE_SSLROOTCERT win over
    the URL's ?sslmode= / ?sslrootcert=).

    ``require_verified`` (production): the connection is TLS with the server's certificate checked
    against the CA and its name against the host (sslmode=verify-full, the default there); a weaker mode
    is refused unless ``allow_insecure``. Over a unix socket libpq ignores sslmode: nothing crosses a network.
    """
    options = entry["OPTIONS"]
    assert isinstance(options, dict)
    if sslmode:
        options["sslmode"] = sslmode
    if sslrootcert:
        options["sslrootcert"] = sslrootcert
    mode = options.get("sslmode", "")
    if mode and mode not in SSLMODES:
        raise ImproperlyConfigured(f"DATABASE_SSLMODE={mode!r}: use one of {', '.join(SSLMODES)}.")
    if options.get("sslrootcert") and options["sslrootcert"] != "system":  # libpq 16+: the system's CAs
        readable_file("DATABASE_SSLROOTCERT", str(options["sslrootcert"]))
    if not require_verified or allow_insecure:
        return
    if not mode:
        options["sslmode"] = "verify-full"
    elif mode != "verify-full":
        raise ImproperlyConfigured(
            f"With DJANGO_DEBUG=false the database connection is TLS with the server's certificate and name "
            f"checked: sslmode={mode!r} is refused. Use DATABASE_SSLMODE=verify-full with "
            "DATABASE_SSLROOTCERT=/path/to/ca.pem, or set DATABASE_ALLOW_INSECURE=true to accept it."
        )


_PLAIN_SCHEMES = {"redis", "amqp", "pyamqp", "librabbitmq", "sentinel"}


def is_plaintext_network_url(url: str) -> bool:
    """A Redis or AMQP URL that crosses a network without TLS (redis://, amqp://); rediss://, amqps://,
    unix sockets and kombu's local transports (filesystem://, memory://) are not."""
    scheme = urlsplit(url).scheme.lower()
    return scheme in _PLAIN_SCHEMES


def redis_tls_options(url: str, *, ca_certs: str) -> dict[str, object]:
    """redis-py / kombu connection options for a rediss:// URL: the certificate is required and checked
    against ``ca_certs`` (empty: the system's CAs) and the host name; {} for any other URL."""
    import ssl

    parts = urlsplit(url)
    if parts.scheme.lower() != "rediss":
        return {}
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key == "ssl_cert_reqs" and unquote(value).lower() not in {"required", "cert_required"}:
            raise ImproperlyConfigured(
                f"{unquote(value)!r} in a rediss:// URL: the Redis server's certificate is always checked "
                "(name the CA with REDIS_CA_CERTS instead)."
            )
    options: dict[str, object] = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True}
    if ca_certs:
        options["ssl_ca_certs"] = ca_certs
    return options
