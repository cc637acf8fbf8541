"""`python -m services.policy`: run the policy service (same as `segflow run policy`)."""

from services.cli import app

if __name__ == "__main__":
    app(["run", "policy"])
