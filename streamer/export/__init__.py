"""What streamer gives the monitoring stack: metric names, Prometheus rules, the dashboard,
the Helm chart and the Kubernetes manifest, all generated from this package."""
