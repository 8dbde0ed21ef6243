autopipe_plugins = "autopipe-auraflow"
