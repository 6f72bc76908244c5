"""What appws serves over HTTP: the login issuer, the App pages and their files."""
