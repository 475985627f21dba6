"""django-allauth's MFA adapter: TOTP secrets and recovery-code seeds encrypted at rest
(marketplace.lib.mfa_secrets says how and why)."""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter

from marketplace.lib import mfa_secrets


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return mfa_secrets.seal(text)

    def decrypt(self, encrypted_text: str) -> str:
        return mfa_secrets.unseal(encrypted_text)
