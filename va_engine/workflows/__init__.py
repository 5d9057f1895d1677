"""Scheduled workflows and the daemon that runs them."""
