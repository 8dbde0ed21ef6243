autopipe_plugins = "autopipe-pixart"
