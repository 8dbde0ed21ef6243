autopipe_plugins = "autopipe-lumina"
