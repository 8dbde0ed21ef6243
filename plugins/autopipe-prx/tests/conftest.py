autopipe_plugins = "autopipe-prx"
