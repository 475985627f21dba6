"""Settings for the time-slice marketplace, read from the environment.

Every value has a development default except where production must choose
(SECRET_KEY and MARKETPLACE_SECRETS_KEY when DEBUG is off). Helpers in
marketplace.env refuse malformed values at start-up.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from kombu import Queue

from marketplace.env import (
    database_from_url,
    database_tls,
    env_bool,
    env_int,
    env_list,
    env_str,
    is_plaintext_network_url,
    readable_file,
    redis_tls_options,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", True)
_DEV_SECRET = "dev-only-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else None)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Key for secrets at rest (cloud credentials). A urlsafe base64 32-byte Fernet key.
# Development derives one from SECRET_KEY so the demo runs without setup.
_derived = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
MARKETPLACE_SECRETS_KEY = env_str("MARKETPLACE_SECRETS_KEY", _derived if DEBUG else None)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "auditlog",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "marketplace.apps.MarketplaceConfig",
    "audit",
    "accounts",
    "owners",
    "renters",
    "scheduling",
    "provisioning",
    "billing",
    "webhooks",
    "notifications",
]
# Demo and development code (seed_demo, devstripe, the Stripe Connect stand-in): never in production.
if DEBUG:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "marketplace.middleware.ForwardedProtoGuardMiddleware",  # X-Forwarded-Proto only from TRUSTED_PROXIES
    "django.middleware.security.SecurityMiddleware",
    "marketplace.lib.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "marketplace.middleware.InputGuardMiddleware",  # NUL characters: a 400 before any view (issue 14)
    "marketplace.lib.api.ApiErrorMiddleware",  # what escapes a view under /api/ is answered in JSON (issue 13)
    "audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "marketplace.middleware.IdleSessionTimeoutMiddleware",
    "marketplace.middleware.HtmxLoginRedirectMiddleware",  # an expired session's poll reloads to the login page
    "allauth.account.middleware.AccountMiddleware",
    "marketplace.middleware.AnonymousRateLimitMiddleware",  # after auth: signed-in users are not counted
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.StaffMfaRequiredMiddleware",  # the admin needs a second factor (issue 14 item 4)
    "accounts.middleware.UserTimeZoneMiddleware",  # portal pages in the user's zone, never /api/ (issue 15)
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.middleware.AuditlogMiddleware",  # django-auditlog's, with the one client-address resolver
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"
ASGI_APPLICATION = "marketplace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "marketplace.context_processors.site",
            ],
        },
    },
]

# PostgreSQL only. The README's run command sets DATABASE_URL to its embedded
# server; tests and CI use the machine's server.
DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/marketplace")
DATABASES = {"default": database_from_url(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # a reused connection is checked before a request uses it
DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME", "test_marketplace")}
# TLS to PostgreSQL (issue 14 item 7): libpq's sslmode and CA file, from DATABASE_URL's query
# (?sslmode=verify-full&sslrootcert=/etc/ssl/pg-ca.pem) or these two, which win. With DEBUG off the
# default is verify-full (TLS, the certificate checked against the CA and its name against the host) and a
# weaker mode is refused unless DATABASE_ALLOW_INSECURE=true. Development keeps libpq's default (prefer).
DATABASE_ALLOW_INSECURE = env_bool("DATABASE_ALLOW_INSECURE", False)
database_tls(
    DATABASES["default"],
    sslmode=env_str("DATABASE_SSLMODE", ""),
    sslrootcert=env_str("DATABASE_SSLROOTCERT", ""),
    require_verified=not DEBUG,
    allow_insecure=DATABASE_ALLOW_INSECURE,
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# At least 12 characters (MARKETPLACE_PASSWORD_MIN_LENGTH) and not on the list of 20,000 passwords most
# common in breaches that ships with Django (checked offline: no network call at sign-up).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("MARKETPLACE_PASSWORD_MIN_LENGTH", 12, minimum=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env_list(
    "DJANGO_PASSWORD_HASHERS",
    [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ],
)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# django-allauth: email login, mandatory verification, TOTP MFA, rate limits on.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.RoleSignupForm"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_RATE_LIMITS = {
    "login_failed": "5/5m/ip,5/5m/key",
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Time-slice marketplace"
MFA_ADAPTER = "accounts.mfa.MFAAdapter"  # TOTP secrets and recovery seeds encrypted at rest
# Staff reach the admin only with a second factor (accounts.middleware); its login is allauth's.
MARKETPLACE_STAFF_MFA_REQUIRED = env_bool("MARKETPLACE_STAFF_MFA_REQUIRED", True)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "marketplace@localhost")

GUARDIAN_RAISE_403 = True
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Redis is the broker and cache. The run command falls back to kombu's
# filesystem transport when no Redis is reachable (see README).
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = Path(env_str("CELERY_FILESYSTEM_DIR", str(BASE_DIR / ".data" / "broker")))
    for _sub in ("out", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "out"),
        "data_folder_out": str(_queue_dir / "out"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
# TLS to Redis (issue 14 item 7): rediss:// URLs, the server's certificate required and checked against
# REDIS_CA_CERTS (a PEM file; empty: the system's CAs) and the host name, for the cache and Celery's broker
# (and a Redis result backend, should one be configured). With DEBUG off a plain redis:// (or amqp://)
# URL is refused unless REDIS_ALLOW_INSECURE=true; unix sockets and the filesystem transport cross no network.
REDIS_CA_CERTS = readable_file("REDIS_CA_CERTS", env_str("REDIS_CA_CERTS", ""))
REDIS_ALLOW_INSECURE = env_bool("REDIS_ALLOW_INSECURE", False)
REDIS_TLS_OPTIONS = redis_tls_options(REDIS_URL, ca_certs=REDIS_CA_CERTS)
CELERY_BROKER_USE_SSL = redis_tls_options(CELERY_BROKER_URL, ca_certs=REDIS_CA_CERTS) or None
CELERY_REDIS_BACKEND_USE_SSL = CELERY_BROKER_USE_SSL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Two queues. Webhook deliveries (small, latency-bound: an integrator waits for them) have their own, so
# they never queue behind provisioning, billing or e-mail work; a worker started without -Q consumes
# both, and deploy/run.sh adds one that consumes only "webhooks" (WEBHOOK_WORKERS processes).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery", routing_key="celery"), Queue("webhooks", routing_key="webhooks"))
CELERY_TASK_ROUTES = {"webhooks.*": {"queue": "webhooks"}}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
# Idempotency keys (marketplace.lib.idempotency) are kept 24 hours; a double-clicked portal form waits
# this long for the first submission's answer.
CELERY_BEAT_SCHEDULE["accounts-purge-idempotency-keys"] = {
    "task": "accounts.tasks.purge_idempotency_keys",
    "schedule": timedelta(hours=1),
}
IDEMPOTENCY_PORTAL_WAIT_SECONDS = env_int("IDEMPOTENCY_PORTAL_WAIT_SECONDS", 10, minimum=0)

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "OPTIONS": REDIS_TLS_OPTIONS}
        if env_bool("CACHE_USE_REDIS", not CELERY_BROKER_URL.startswith("filesystem://"))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
if not DEBUG and not REDIS_ALLOW_INSECURE:
    _in_use = [("CELERY_BROKER_URL", CELERY_BROKER_URL)]
    if str(CACHES["default"]["BACKEND"]).endswith("RedisCache"):
        _in_use.append(("REDIS_URL", REDIS_URL))
    for _name, _url in _in_use:
        if is_plaintext_network_url(_url):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"With DJANGO_DEBUG=false {_name} is a rediss:// URL (TLS, the certificate checked; the CA in "
                f"REDIS_CA_CERTS): {_url.split('://')[0]}:// crosses the network in plain text. "
                "Set REDIS_ALLOW_INSECURE=true to accept it."
            )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # A token may do only what its scopes allow (accounts.permissions, issue 13).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScopePermission",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.lib.api.BoundedLimitOffsetPagination",  # ?limit at most 200
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.lib.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["marketplace.lib.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Time-slice marketplace API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Paths are /api/v1/...; operation ids and tags start after the version.
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The error shape and statuses on every operation (marketplace.lib.apischema), after the enum hook.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "marketplace.lib.apischema.error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "BookingStateEnum": "scheduling.models.BookingState",
        "DeliveryStateEnum": "webhooks.models.Delivery.State",
    },
}

# Cookies, HSTS, CSP, sessions, passwords: the PRODUCTION SECURITY block below (issue 14 item 6).

AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

# ---------------------------------------------------------------- AUDIT (issue 14)
# The proxies whose X-Forwarded-For is believed: addresses or CIDR ranges ("10.0.0.2,172.16.0.0/12").
# Empty (the default): the connection's peer is the client and forwarded headers are ignored.
# marketplace.lib.client_ip is the one resolver: the audit trail, auditlog's history and allauth's
# rate limits all name the address it gives.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or range.") from _exc
# auditlog's history rows carry the request id of audit.middleware (X-Request-ID / X-Correlation-ID,
# checked there) as their correlation id, the same as the domain events of that request.
AUDITLOG_CID_GETTER = "audit.context.current_request_id"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"  # allauth's rate limits key on the resolver's address
ACCOUNT_FORMS = {"signup": "accounts.signup.SignupForm"}  # the user and its audit entry commit together
# The activity page (accounts:activity): whose events a user sees. Model label -> the lookups from
# that model to the user(s) it belongs to; a user sees the events of their own rows and their own acts.
AUDIT_ACTIVITY_SCOPES: dict[str, tuple[str, ...]] = {
    "accounts.User": ("pk",),
    "accounts.ApiToken": ("user",),
    "owners.Cloud": ("owner",),
    "owners.Offering": ("owner",),
    "owners.SliceProfile": ("owner",),
    "renters.SSHPublicKey": ("user",),
    "renters.RenterSettings": ("user",),
    "scheduling.Booking": ("renter", "offering__owner"),
    "scheduling.Quote": ("renter",),
    "provisioning.Server": ("booking__renter", "booking__offering__owner"),
    "billing.Payment": ("user",),
    "billing.PaymentMethod": ("user",),
    "billing.Refund": ("payment__user",),
    "billing.Payout": ("owner",),
    "billing.StripeCustomer": ("user",),
    "billing.ConnectedAccount": ("user",),
}
AUDIT_ACTIVITY_PAGE_SIZE = 50
# ---------------------------------------------------------------- end AUDIT

# ---------------------------------------------------------------- PRODUCTION SECURITY (issue 14 item 6)
# With DJANGO_DEBUG=false, `manage.py check --deploy` reports nothing. Development (DEBUG on) keeps
# plain http on localhost; every switch below can still be set either way from the environment.
if not DEBUG:
    from django.core.exceptions import ImproperlyConfigured

    _required = {
        "DJANGO_ALLOWED_HOSTS": "the host names this site answers to (DJANGO_ALLOWED_HOSTS=market.example.com)",
        "EMAIL_BACKEND": "how mail is sent (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST)",
    }
    _missing = [f"{name}: {why}" for name, why in _required.items() if not env_str(name, "").strip()]
    if _missing:
        raise ImproperlyConfigured("With DJANGO_DEBUG=false set " + "; and ".join(_missing) + ".")
    if "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS: name the hosts; '*' answers to any Host header.")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587 if not DEBUG else 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not DEBUG)
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer's probe speaks plain http to gunicorn
# A year of HSTS, subdomains included, eligible for browsers' preload lists (0 turns it off).
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
# "This request came over https" is believed from X-Forwarded-Proto only when the peer is one of
# TRUSTED_PROXIES: marketplace.middleware.ForwardedProtoGuardMiddleware drops the header from anyone
# else, and deploy/gunicorn.conf.py gives gunicorn the same list (forwarded_allow_ips).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True  # the pages send the token from the form or the hx-headers attribute, never the cookie
if not DEBUG:
    SESSION_COOKIE_NAME = "__Host-sessionid" if SESSION_COOKIE_SECURE else "sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken" if CSRF_COOKIE_SECURE else "csrftoken"
# Idle timeout: a signed-in session unused for this long is logged out
# (marketplace.middleware.IdleSessionTimeoutMiddleware, which moves the session's expiry on at most once
# a minute rather than writing the session on every request).
MARKETPLACE_SESSION_IDLE_SECONDS = env_int("MARKETPLACE_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
# The cookie and the stored session outlive the idle time by the middleware's write interval, so the
# middleware's exact rule, not a stale expiry, ends the session.
SESSION_COOKIE_AGE = MARKETPLACE_SESSION_IDLE_SECONDS + 60
SESSION_SAVE_EVERY_REQUEST = False
# Content-Security-Policy (marketplace.lib.csp): scripts from this site and Stripe.js only, no inline
# script or style, no eval (htmx's allowEval is off: templates/base.html), frames from Stripe only.
# The Stripe origins come from STRIPE_JS_URL and STRIPE_API_BASE (localstripe in tests and the demo).
MARKETPLACE_CSP = env_bool("MARKETPLACE_CSP", True)
MARKETPLACE_CSP_REPORT_URI = env_str("MARKETPLACE_CSP_REPORT_URI", "")
# The OpenAPI schema (/api/v1/schema) answers signed-in users and token holders only, unless this is on.
MARKETPLACE_API_SCHEMA_PUBLIC = env_bool("MARKETPLACE_API_SCHEMA_PUBLIC", False)
# drf-spectacular's own deploy check reports how complete the API's documentation is (views without a
# serializer), not a security setting; `manage.py spectacular --validate` still shows those.
SPECTACULAR_SETTINGS["ENABLE_DJANGO_DEPLOY_CHECK"] = False
# ---------------------------------------------------------------- end PRODUCTION SECURITY

# Market rules shared by several apps.
MARKETPLACE_PREEMPTION_NOTICE_SECONDS = env_int("MARKETPLACE_PREEMPTION_NOTICE_SECONDS", 120, minimum=0)
MARKETPLACE_QUOTE_TTL = timedelta(seconds=env_int("MARKETPLACE_QUOTE_TTL_SECONDS", 60, minimum=5))

# ---------------------------------------------------------------- OWNERS and SCHEDULING: input bounds (issue 12)
# The longest notice an owner may give before preempting (an offering's promise and a notice typed
# when preempting); a notice is also never longer than what the booking has left.
MARKETPLACE_PREEMPTION_NOTICE_MAX_SECONDS = env_int("MARKETPLACE_PREEMPTION_NOTICE_MAX_SECONDS", 86400, minimum=0)
# The most an offering may hold, per resource.
MARKETPLACE_OFFERING_MAX_VCPUS = env_int("MARKETPLACE_OFFERING_MAX_VCPUS", 4096, minimum=1)
MARKETPLACE_OFFERING_MAX_RAM_MIB = env_int("MARKETPLACE_OFFERING_MAX_RAM_MIB", 16 * 1024 * 1024, minimum=128)
MARKETPLACE_OFFERING_MAX_DISK_GB = env_int("MARKETPLACE_OFFERING_MAX_DISK_GB", 1024 * 1024, minimum=0)
MARKETPLACE_OFFERING_MAX_BANDWIDTH_MBPS = env_int("MARKETPLACE_OFFERING_MAX_BANDWIDTH_MBPS", 400_000, minimum=0)
# The highest price per hour an owner may set (fixed price, reserve, dynamic base, floor and cap), in
# major units per currency: "EUR=1000,USD=1000,JPY=150000". A currency not named has no maximum.
MARKETPLACE_PRICE_MAX_PER_HOUR: dict[str, str] = {}
for _item in env_list(
    "MARKETPLACE_PRICE_MAX_PER_HOUR", ["USD=1000", "EUR=1000", "GBP=1000", "CHF=1000", "SEK=10000", "JPY=150000"]
):
    _code, _sep, _amount = _item.partition("=")
    if not (_sep and _code.strip() and _amount.strip()):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"MARKETPLACE_PRICE_MAX_PER_HOUR: {_item!r} is not CURRENCY=amount.")
    MARKETPLACE_PRICE_MAX_PER_HOUR[_code.strip().upper()] = _amount.strip()

# ---------------------------------------------------------------- INPUT BOUNDS and ANONYMOUS RATE (issue 14)
# Dates anyone types lie within these years (inclusive); a time range is at most this many days.
MARKETPLACE_EARLIEST_YEAR = env_int("MARKETPLACE_EARLIEST_YEAR", 2000, minimum=1)
MARKETPLACE_LATEST_YEAR = env_int("MARKETPLACE_LATEST_YEAR", 2100, minimum=MARKETPLACE_EARLIEST_YEAR)
MARKETPLACE_MAX_RANGE_DAYS = env_int("MARKETPLACE_MAX_RANGE_DAYS", 366, minimum=1)
if MARKETPLACE_LATEST_YEAR > 9000 or MARKETPLACE_MAX_RANGE_DAYS > 3660:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("MARKETPLACE_LATEST_YEAR is at most 9000 and MARKETPLACE_MAX_RANGE_DAYS at most 3660.")
# Anonymous requests per client address and window (marketplace.middleware); 0 requests turns it off.
MARKETPLACE_ANON_RATE_REQUESTS = env_int("MARKETPLACE_ANON_RATE_REQUESTS", 120, minimum=0)
MARKETPLACE_ANON_RATE_SECONDS = env_int("MARKETPLACE_ANON_RATE_SECONDS", 60, minimum=1)
MARKETPLACE_ANON_RATE_EXEMPT = env_list(
    "MARKETPLACE_ANON_RATE_EXEMPT", ["/static/", "/healthz", "/billing/webhooks/", "/favicon.ico"]
)

# ---------------------------------------------------------------- API TOKENS and API LIMITS (issue 13)
# A new API token lives this many days unless its user picks another expiry, at most the maximum.
MARKETPLACE_API_TOKEN_DEFAULT_DAYS = env_int("MARKETPLACE_API_TOKEN_DEFAULT_DAYS", 90, minimum=1)
MARKETPLACE_API_TOKEN_MAX_DAYS = env_int(
    "MARKETPLACE_API_TOKEN_MAX_DAYS", 365, minimum=MARKETPLACE_API_TOKEN_DEFAULT_DAYS
)
# Creating a token needs a password (or second factor) entered this recently: a login or allauth's
# re-authentication page, which the tokens page sends the user to otherwise.
ACCOUNT_REAUTHENTICATION_TIMEOUT = env_int("ACCOUNT_REAUTHENTICATION_TIMEOUT", 300, minimum=10)
# Requests per token (or signed-in user) and per anonymous address, "N/s", "N/m", "N/h" or "N/d";
# "off" turns one off (a benchmark). Over the rate: 429 with Retry-After (marketplace.lib.throttling).
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "marketplace.lib.throttling.TokenRateThrottle",
    "marketplace.lib.throttling.AnonRateThrottle",
]
_API_RATES = {
    "token": env_str("MARKETPLACE_API_RATE_TOKEN", "1200/m"),
    "anon": env_str("MARKETPLACE_API_RATE_ANON", "60/m"),
}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = _API_RATES
for _scope, _rate in _API_RATES.items():  # the format marketplace.lib.throttling reads
    if _rate != "off" and not re.fullmatch(r"[1-9][0-9]{0,8}/[smhd]", _rate):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"MARKETPLACE_API_RATE_{_scope.upper()}={_rate!r}: use N/s, N/m, N/h, N/d or off.")
# ---------------------------------------------------------------- end API TOKENS and API LIMITS

# ---------------------------------------------------------------- BILLING (issue 5)
# Stripe (or localstripe in tests and the demo). Secrets may come from NAME_FILE.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "sk_test_localstripe" if DEBUG else None)
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY", "pk_test_localstripe" if DEBUG else None)
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")  # http://127.0.0.1:8420 for localstripe
STRIPE_JS_URL = env_str("STRIPE_JS_URL", "https://js.stripe.com/v3/")
# The CAs Stripe's certificate is checked against (a PEM file: a TLS-inspecting egress proxy's CA, a test
# CA); empty: the bundle that ships with the stripe library. Certificates are always checked.
STRIPE_CA_BUNDLE = readable_file("STRIPE_CA_BUNDLE", env_str("STRIPE_CA_BUNDLE", ""))
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_localstripe" if DEBUG else None)
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 20, minimum=1)
BILLING_MODE = env_str("BILLING_MODE", "prepaid")  # "prepaid" or "card_per_booking"
if BILLING_MODE not in {"prepaid", "card_per_booking"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"BILLING_MODE={BILLING_MODE!r}: use 'prepaid' or 'card_per_booking'.")
BILLING_CURRENCY = env_str("BILLING_CURRENCY", "USD")  # renters' balance currency when they have no setting
PLATFORM_FEE_PERCENT = env_str("PLATFORM_FEE_PERCENT", "10")  # up to 2 decimals, e.g. "12.5"
PAYOUT_MINIMUM = env_int("PAYOUT_MINIMUM", 1000, minimum=0)  # minor units of the payout currency
BILLING_TOPUP_MINIMUM = env_int("BILLING_TOPUP_MINIMUM", 500, minimum=1)
BILLING_FUNDS_CHECK = env_bool("BILLING_FUNDS_CHECK", True)  # refuse bookings the renter cannot pay for


def _major_per_currency(name: str, default: str) -> dict[str, str]:
    """An operator maximum in major units: one number for every currency ("10000") or per currency
    ("EUR=10000,JPY=1500000"; "*=..." for the others). Checked here, converted by billing."""
    from decimal import Decimal, InvalidOperation

    out: dict[str, str] = {}
    for item in env_list(name, [default]):
        code, _, value = item.rpartition("=")
        try:
            if Decimal(value) <= 0:
                raise InvalidOperation
        except InvalidOperation as exc:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"{name}: {item!r} is not a positive amount.") from exc
        out[code.strip().upper() or "*"] = value.strip()
    return out


BILLING_TOPUP_MAX = _major_per_currency("BILLING_TOPUP_MAX", "10000")  # largest top-up, major units
BILLING_SPEND_LIMIT_MAX = _major_per_currency("BILLING_SPEND_LIMIT_MAX", "1000000")  # largest monthly spend limit
# The most one staff member may move alone (a manual adjustment, refund or payout on demand), major units,
# one number or per currency; above it a second staff member approves (billing.services.approvals).
BILLING_APPROVAL_THRESHOLD = _major_per_currency("BILLING_APPROVAL_THRESHOLD", "1000")
# A prepaid balance below this (major units) after a hold is "low": billing tells it once per crossing
# (the balance.low webhook).
BILLING_BALANCE_LOW = _major_per_currency("BILLING_BALANCE_LOW", "10")
CELERY_BEAT_SCHEDULE.update(
    {
        "billing-bookings-sweep": {"task": "billing.tasks.sweep_bookings", "schedule": timedelta(seconds=30)},
        "billing-payments-sweep": {"task": "billing.tasks.sweep_payments", "schedule": timedelta(minutes=2)},
        "billing-webhooks-retry": {"task": "billing.tasks.retry_webhook_events", "schedule": timedelta(minutes=1)},
        "billing-payouts": {"task": "billing.tasks.run_scheduled_payouts", "schedule": crontab(hour=3, minute=0)},
    }
)
# ---------------------------------------------------------------- end BILLING

# ---------------------------------------------------------------- PROVISIONING (issue 4)
PROVISIONING_LEAD_SECONDS = env_int("PROVISIONING_LEAD_SECONDS", 60, minimum=0)  # launch this long before a slice
PROVISIONING_ACTIVE_TIMEOUT_SECONDS = env_int("PROVISIONING_ACTIVE_TIMEOUT_SECONDS", 300, minimum=1)
PROVISIONING_DELETE_TIMEOUT_SECONDS = env_int("PROVISIONING_DELETE_TIMEOUT_SECONDS", 120, minimum=1)
PROVISIONING_LEASE_MARGIN_SECONDS = env_int("PROVISIONING_LEASE_MARGIN_SECONDS", 60, minimum=1)
PROVISIONING_SWEEP_SECONDS = env_int("PROVISIONING_SWEEP_SECONDS", 10, minimum=1)
PROVISIONING_POLL_SECONDS = float(env_str("PROVISIONING_POLL_SECONDS", "1"))  # how often to ask the cloud
# "auto" (Nova picks the project's network), "none" (no NIC: a Nova without working Neutron), or a network name.
PROVISIONING_NETWORKS = env_str("PROVISIONING_NETWORKS", "auto")
# A standby server is rebuilt for its renter this long before the slice (until the cloud's own rebuild
# time has been measured: provisioning.services.transfer.rebuild_estimate), plus a margin for the worker.
PROVISIONING_REBUILD_ESTIMATE_SECONDS = float(env_str("PROVISIONING_REBUILD_ESTIMATE_SECONDS", "2"))
PROVISIONING_TRANSFER_MARGIN_SECONDS = float(env_str("PROVISIONING_TRANSFER_MARGIN_SECONDS", "0.4"))
METERING_INTERVAL_SECONDS = env_int("METERING_INTERVAL_SECONDS", 60, minimum=1)
RECONCILE_INTERVAL_SECONDS = env_int("RECONCILE_INTERVAL_SECONDS", 120, minimum=1)
# Owners' cloud URLs (marketplace.lib.netguard, provisioning.drivers.netguard): every request to a cloud is
# https to a public address. Development allowances: plain http for these host names, and these address
# ranges (e.g. 127.0.0.0/8 for a local Nova, 10.0.0.0/8 for an operator's own private cloud).
CLOUD_URL_HTTP_HOSTS = env_list("CLOUD_URL_HTTP_HOSTS", [])
CLOUD_URL_ALLOWED_NETWORKS = env_list("CLOUD_URL_ALLOWED_NETWORKS", [])
# The CAs owners' clouds' certificates (Keystone and every catalog endpoint) are checked against: a PEM
# file, e.g. the public CAs plus an operator's private one; empty: requests' bundle (certifi).
CLOUD_CA_BUNDLE = readable_file("CLOUD_CA_BUNDLE", env_str("CLOUD_CA_BUNDLE", ""))

# Outgoing webhooks (webhooks/): public https receivers only, unless the operator allows ranges
# (their own receivers; the tests allow 127.0.0.0/8) or plain http (development).
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", [])
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_BACKOFF_BASE_SECONDS = env_int("WEBHOOK_BACKOFF_BASE_SECONDS", 30)  # 30 s, 1 min, 2 min, 4 min, ...
WEBHOOK_BACKOFF_MAX_SECONDS = env_int("WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 12)  # then the delivery is given up (redeliver by hand)
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 15)  # consecutive, then turned off
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30)  # events and their delivery log kept this long
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {"task": "webhooks.sweep", "schedule": timedelta(seconds=30)}
# Notifications (notifications/): emails link back to the portal at this address; the sweep sends emails
# a lost on-commit task left pending.
MARKETPLACE_BASE_URL = env_str("MARKETPLACE_BASE_URL", "http://localhost:8000")
CELERY_BEAT_SCHEDULE["notifications-sweep"] = {"task": "notifications.sweep", "schedule": timedelta(minutes=1)}
# Clouds without Keystone (a compute endpoint override and a static token: a noauth2 Nova) exist only
# in development: with DEBUG off this is off whatever the environment says.
CLOUD_NOAUTH_ENDPOINTS = DEBUG and env_bool("CLOUD_NOAUTH_ENDPOINTS", True)
# The local simulator driver (fake clouds, no real servers): registered and offered only when on.
# Production data must hold no simulator cloud (system check owners.E001).
MARKETPLACE_ALLOW_SIMULATOR = env_bool("MARKETPLACE_ALLOW_SIMULATOR", DEBUG)
# The local simulator driver (demo clouds with driver "simulator"): timings and failure injection.
SIMULATOR_LAUNCH_SECONDS = env_int("SIMULATOR_LAUNCH_SECONDS", 3, minimum=0)
SIMULATOR_RESIZE_SECONDS = env_int("SIMULATOR_RESIZE_SECONDS", 2, minimum=0)
SIMULATOR_DELETE_SECONDS = env_int("SIMULATOR_DELETE_SECONDS", 0, minimum=0)
SIMULATOR_REBUILD_SECONDS = float(env_str("SIMULATOR_REBUILD_SECONDS", "1"))
SIMULATOR_FAIL_RATE = float(env_str("SIMULATOR_FAIL_RATE", "0"))
if not 0 <= SIMULATOR_FAIL_RATE <= 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"SIMULATOR_FAIL_RATE={SIMULATOR_FAIL_RATE}: use a share between 0 and 1.")
SIMULATOR_FAIL_MODE = env_str("SIMULATOR_FAIL_MODE", "no_valid_host")  # or "error" (server goes to ERROR)
CELERY_BEAT_SCHEDULE.update(
    {
        "provisioning-launch-due": {
            "task": "provisioning.launch_due",
            "schedule": timedelta(seconds=PROVISIONING_SWEEP_SECONDS),
        },
        "provisioning-reclaim-due": {
            "task": "provisioning.reclaim_due",
            "schedule": timedelta(seconds=PROVISIONING_SWEEP_SECONDS),
        },
        "provisioning-resize-due": {
            "task": "provisioning.resize_due",
            "schedule": timedelta(seconds=PROVISIONING_SWEEP_SECONDS),
        },
        "provisioning-reconcile": {
            "task": "provisioning.reconcile",
            "schedule": timedelta(seconds=RECONCILE_INTERVAL_SECONDS),
        },
        "provisioning-meter": {"task": "provisioning.meter", "schedule": timedelta(seconds=METERING_INTERVAL_SECONDS)},
        # The exact-time steps (slice starts and ends, notice deadlines) that came within the ETA horizon,
        # and the standby pools' refills; each step is also sent when it becomes known.
        "provisioning-schedule-due": {"task": "provisioning.schedule_due", "schedule": timedelta(seconds=30)},
    }
)
# ---------------------------------------------------------------- end PROVISIONING

# ---------------------------------------------------------------- SCHEDULING (market engine)
MARKETPLACE_CLEARING_INTERVAL_SECONDS = env_int("MARKETPLACE_CLEARING_INTERVAL_SECONDS", 5, minimum=1)
CELERY_BEAT_SCHEDULE.update(
    {
        "scheduling-clear-due-auctions": {
            "task": "scheduling.tasks.clear_due_auctions",
            "schedule": timedelta(seconds=MARKETPLACE_CLEARING_INTERVAL_SECONDS),
        },
        "scheduling-end-due-preemptions": {
            "task": "scheduling.tasks.end_due_preemptions",
            "schedule": timedelta(seconds=5),
        },
        # Slices that are over end here (the engine's rule); provisioning reacts to the on_booking_ended hook.
        "scheduling-end-due-bookings": {
            "task": "scheduling.tasks.end_due_bookings",
            "schedule": timedelta(seconds=PROVISIONING_SWEEP_SECONDS),
        },
    }
)
# Price history points older than this go (each series keeps the last one before the cutoff).
MARKETPLACE_PRICE_HISTORY_DAYS = env_int("MARKETPLACE_PRICE_HISTORY_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE["scheduling-prune-price-history"] = {
    "task": "scheduling.tasks.prune_price_history",
    "schedule": timedelta(hours=1),
}
# ---------------------------------------------------------------- end SCHEDULING

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # keystoneauth/openstacksdk can log request headers at DEBUG; keep them quiet.
        "keystoneauth": {"level": "WARNING"},
        "openstack": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
    },
}
