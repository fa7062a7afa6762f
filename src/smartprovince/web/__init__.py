"""Web shell: layout, i18n, home page with the three faces, login, profile, admin pages."""
