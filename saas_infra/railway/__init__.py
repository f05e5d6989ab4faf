"""Railway access: the GraphQL client (transport, auth, pacing, retries) and the operations.

Importing this package has no side effects and opens no connection.
"""

from saas_infra.railway.client import DEFAULT_API_URL, ClientStats, RailwayClient
from saas_infra.railway.pacing import Pacer
from saas_infra.railway.retry import RetryEvent, RetryPolicy

__all__ = ["DEFAULT_API_URL", "ClientStats", "Pacer", "RailwayClient", "RetryEvent", "RetryPolicy"]
