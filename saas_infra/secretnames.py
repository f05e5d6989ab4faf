"""Which variable names hold secrets: the one rule the manifests (which refuse them) and the
observation of Railway (which never keeps their values) share. No I/O, no imports.
"""

SECRET_WORDS: tuple[str, ...] = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL")


def looks_secret(name: str) -> bool:
    return any(word in name for word in SECRET_WORDS)
