"""autopipe-flux2's tests load only this plugin (the autopipe pytest plugin reads the setting below), offline."""

# A conftest setting: the repository's tests run as one pytest run, whose root conftest names autopipe-sd.
autopipe_plugins = "autopipe-flux2"
