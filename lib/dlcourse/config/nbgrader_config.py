# The course's configuration is jupyter_config.py at the course root, which nbgrader reads from
# the Jupyter config path. This empty file only stops nbgrader from warning, at every command,
# that it found no nbgrader_config.py (`dlcourse` puts this folder on JUPYTER_CONFIG_PATH too).
