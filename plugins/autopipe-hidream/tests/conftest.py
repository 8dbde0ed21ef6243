"""autopipe-hidream's tests load only this plugin (the autopipe pytest plugin reads this setting), offline."""

# A conftest setting: the repository's tests run as one pytest run, whose root conftest names autopipe-sd.
autopipe_plugins = "autopipe-hidream"
