"""Stage signatures: the stage table (`stages`), the signer, and the git file state and
globs they are computed from."""
