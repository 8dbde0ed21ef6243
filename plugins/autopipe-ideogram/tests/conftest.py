autopipe_plugins = "autopipe-ideogram"
