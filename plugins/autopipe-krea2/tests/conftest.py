autopipe_plugins = "autopipe-krea2"
