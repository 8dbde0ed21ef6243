autopipe_plugins = "autopipe-cogview"
