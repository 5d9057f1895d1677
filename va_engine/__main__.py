"""``python -m va_engine`` is the same as the ``va-engine`` command."""

from va_engine.cli import run

if __name__ == "__main__":
    run()
