"""Zhenzhi gateway: the FastAPI service (EPCIS 2.0 REST binding and traceability extensions)."""
