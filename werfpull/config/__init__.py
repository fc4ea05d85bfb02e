"""werf.yaml to a typed, validated model: `load` finds and renders, `schema` checks,
`model` holds the result."""
