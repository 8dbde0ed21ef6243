autopipe_plugins = "autopipe-bria"
