autopipe_plugins = "autopipe-nucleusmoe"
