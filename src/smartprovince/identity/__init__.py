"""Identity: organisations tree, users, roles scoped to a subtree, login, tokens, OIDC."""
