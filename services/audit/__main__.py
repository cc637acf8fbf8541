"""`python -m services.audit`: run the audit service (same as `segflow run audit`)."""

from services.cli import app

if __name__ == "__main__":
    app(["run", "audit"])
