"""`python -m services.allocator`: run the allocator service (same as `segflow run allocator`)."""

from services.cli import app

if __name__ == "__main__":
    app(["run", "allocator"])
