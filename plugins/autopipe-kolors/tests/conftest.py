"""autopipe-kolors' tests load only this plugin (the autopipe pytest plugin reads this setting for this folder), offline;
the tests that need autopipe-sdxl beside it say so with AUTOPIPE_PLUGINS."""

autopipe_plugins = "autopipe-kolors"
