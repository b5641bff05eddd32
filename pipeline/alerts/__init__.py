"""Alerts: decide new/update per (rule, story cluster), reserve in the outbox ledger, render, deliver."""
