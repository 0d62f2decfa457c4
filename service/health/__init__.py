"""How the service is doing: statistics, the health verdict, and Prometheus metrics."""
