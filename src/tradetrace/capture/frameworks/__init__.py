"""Built-in profiles of trading frameworks, a module each (one row in profile.BUILTIN)."""
