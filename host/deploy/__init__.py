"""Deploying to a lab: provisioning, the broker's configuration, services (README, "Deploying to a lab")."""
