"""Twitch: Helix and OAuth clients, EventSub verification, and the trigger sender."""
