"""`python -m services.gateway`: run the gateway service (same as `segflow run gateway`)."""

from services.cli import app

if __name__ == "__main__":
    app(["run", "gateway"])
