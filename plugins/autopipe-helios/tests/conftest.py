autopipe_plugins = "autopipe-helios"
