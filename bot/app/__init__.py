"""The GitHub App: webhook service, durable work queue, GitHub access, handlers."""
