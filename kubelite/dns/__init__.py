"""Cluster DNS: names of Services and pods, as CoreDNS's ``kubernetes`` plugin answers them."""
