autopipe_plugins = "autopipe-ovis"
