"""The OpenStack driver. The only module that imports openstacksdk.

Every cloud error is wrapped into CloudError with a message an owner or
renter can act on.
"""

from __future__ import annotations

import openstack
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as os_exc

from owners.hooks import ConnectionResult
from owners.models import Cloud

CONNECT_TIMEOUT = 10


class CloudError(Exception):
    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient


def connect(cloud: Cloud) -> openstack.connection.Connection:
    """A connection with the cloud's application credential, or a static token for a noauth2 Nova."""
    if cloud.auth_url:
        return openstack.connection.Connection(
            auth_type="v3applicationcredential",
            auth={
                "auth_url": cloud.auth_url,
                "application_credential_id": cloud.app_credential_id,
                "application_credential_secret": cloud.reveal_secret(),
            },
            region_name=cloud.region_name,
            compute_endpoint_override=cloud.compute_endpoint_override or None,
            image_endpoint_override=cloud.image_endpoint_override or None,
            timeout=CONNECT_TIMEOUT,
            app_name="timeslice-marketplace",
        )
    # Development Nova with auth_strategy=noauth2: the token is "user:project".
    token = cloud.reveal_secret() or f"admin:{cloud.project_id or 'admin'}"
    return openstack.connection.Connection(
        auth_type="admin_token",
        auth={"endpoint": cloud.compute_endpoint_override, "token": token},
        region_name=cloud.region_name,
        compute_endpoint_override=cloud.compute_endpoint_override,
        image_endpoint_override=cloud.image_endpoint_override or None,
        timeout=CONNECT_TIMEOUT,
        app_name="timeslice-marketplace",
    )


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ks_exc.Unauthorized | os_exc.HttpException) and getattr(exc, "status_code", None) == 401:
        return "The cloud refused the credentials (401): check the application credential ID and secret."
    if isinstance(exc, ks_exc.ConnectFailure | ks_exc.ConnectTimeout):
        return "Could not reach the cloud: the address refused or timed out. Check the auth URL."
    if isinstance(exc, ks_exc.DiscoveryFailure):
        return "The auth URL does not look like a Keystone endpoint."
    if isinstance(exc, ks_exc.EndpointNotFound):
        return "The cloud has no compute endpoint in that region."
    if isinstance(exc, os_exc.HttpException):
        return f"The cloud answered with an error ({exc.status_code}): {exc.details or exc.message}"[:400]
    if isinstance(exc, ks_exc.ClientException):
        return f"The cloud could not be used: {exc}"[:400]
    return f"Unexpected error talking to the cloud: {type(exc).__name__}"


def test_connection(cloud: Cloud) -> ConnectionResult:
    """Authenticate and list flavors: proves the credentials and the compute endpoint."""
    try:
        conn = connect(cloud)
        flavors = list(conn.compute.flavors())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a readable reason
        return ConnectionResult(False, describe_error(exc))
    return ConnectionResult(True, f"Connected: the compute service lists {len(flavors)} flavors.")
