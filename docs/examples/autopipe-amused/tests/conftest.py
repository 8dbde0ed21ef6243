# The autopipe pytest plugin, installed with autopipe-core, isolates every test here to this plugin
# (no other plugin loaded, no hub, caches in pytest's temp folder) and provides the tiny_checkpoint fixture.
# `autopipe_plugins = "autopipe-amused"` under [tool.pytest.ini_options] in pyproject.toml says the same.
autopipe_plugins = "autopipe-amused"
