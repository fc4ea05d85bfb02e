"""The command line: `main` (parser, dispatch, exit codes), `options` (option groups),
`views` (every rendering for people)."""
