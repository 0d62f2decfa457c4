"""Notifications: signed webhooks to clients when their jobs finish, and alerts to operators."""
