"""What the API and the CLI show of a subscription and its deliveries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from autonama_shared.notify.subscriptions import (
    SPEC_EXAMPLE,
    AlertFilter,
    AppriseTarget,
    WebhookTarget,
)

__all__ = ["AttemptView", "DeliveryView", "SubscriptionCreated", "SubscriptionView"]

_CREATED = "2026-03-15T00:00:00Z"
_SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": 7,
    **SPEC_EXAMPLE,
    "template": None,
    "enabled": True,
    "disabled_reason": None,
    "consecutive_failures": 0,
    "created_at": _CREATED,
}


class SubscriptionView(BaseModel):
    """A subscription as stored (its webhook secret is shown only when it is created)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SUBSCRIPTION_EXAMPLE]})

    id: int
    name: str
    target: WebhookTarget | AppriseTarget = Field(discriminator="kind")
    filter: AlertFilter
    template: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled (when it is).")
    consecutive_failures: int = Field(
        description="Deliveries failed for good (refused, or out of retries) since the last "
        "delivered one; at the limit (50 by "
        "default) the subscription is disabled until it is enabled again."
    )
    created_at: AwareDatetime


class SubscriptionCreated(SubscriptionView):
    """The subscription just made; a webhook's signing secret is shown here only."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    **_SUBSCRIPTION_EXAMPLE,
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                }
            ]
        }
    }

    secret: str | None = Field(
        description="The webhook's signing secret (Standard Webhooks, whsec_...): keep it, "
        "it is not shown again. Null for Apprise targets."
    )


class AttemptView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "attempt": 1,
                    "at": "2026-03-15T00:00:10Z",
                    "outcome": "retry",
                    "status_code": 503,
                    "error": "HTTP 503",
                    "latency_ms": 8.1,
                }
            ]
        }
    )

    attempt: int
    at: AwareDatetime
    outcome: Literal["delivered", "retry", "failed"]
    status_code: int | None
    error: str | None
    latency_ms: float


class DeliveryView(BaseModel):
    """One message to one subscription, with its attempts (newest first)."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": 311,
                    "alert_id": 42,
                    "message_id": "msg_7_42",
                    "event_type": "alert.raised",
                    "status": "pending",
                    "attempts": 2,
                    "next_attempt_at": "2026-03-15T00:00:13Z",
                    "last_status_code": 503,
                    "last_error": "HTTP 503",
                    "last_latency_ms": 12.5,
                    "created_at": "2026-03-15T00:00:09Z",
                    "finished_at": None,
                    "attempt_log": [
                        {
                            "attempt": 2,
                            "at": "2026-03-15T00:00:11Z",
                            "outcome": "retry",
                            "status_code": 503,
                            "error": "HTTP 503",
                            "latency_ms": 12.5,
                        }
                    ],
                }
            ]
        }
    }

    id: int
    alert_id: int | None = Field(description="Null for a test event.")
    message_id: str = Field(description="The webhook-id header: the same on every retry.")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: AwareDatetime | None = Field(description="When pending: the next try.")
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: float | None
    created_at: AwareDatetime
    finished_at: AwareDatetime | None
    attempt_log: list[AttemptView] = Field(description="The last 10 attempts, newest first.")
