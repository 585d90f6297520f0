"""The oci runtime: pods through runc/crun and CNI, without Docker (see runtime.py)."""
