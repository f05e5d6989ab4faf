"""saas-infra: keeps a fleet of luthien-proxy tenants on Railway in the state a folder of manifests describes."""

__version__ = "0.2.0"
