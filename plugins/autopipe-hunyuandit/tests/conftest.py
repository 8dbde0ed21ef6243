"""autopipe-hunyuandit's tests load only this plugin (the autopipe pytest plugin reads this setting for this folder), offline."""

autopipe_plugins = "autopipe-hunyuandit"
