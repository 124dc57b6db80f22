"""Pydantic models of every resource's spec and status: the one source of truth for schemas."""

from activeloop.api.campaign import CampaignSpec

__all__ = ["CampaignSpec"]
