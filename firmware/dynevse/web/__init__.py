"""The board's HTTP side: the front that accepts connections (front.py), and later the
captive-portal setup and status pages."""
