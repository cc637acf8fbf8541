"""`python -m services.classifier`: run the classifier service (same as `segflow run classifier`)."""

from services.cli import app

if __name__ == "__main__":
    app(["run", "classifier"])
