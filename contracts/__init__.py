"""segflow's wire: the CloudEvents envelope, the topic catalog, event payload models and identity keys.

Imports only pydantic, orjson, PyYAML (export) and the standard library; nothing here runs services.
"""
