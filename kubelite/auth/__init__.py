"""Who may do what: the cluster CA and certificates, ServiceAccount tokens, RBAC decisions and the
default RBAC policy. Imports storage and below (docs/architecture.md)."""
