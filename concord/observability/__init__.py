"""What operators see of a running hub: liveness and readiness, Prometheus metrics, structured logs."""
