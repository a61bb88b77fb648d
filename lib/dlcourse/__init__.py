"""dlcourse: the helper library shared by every notebook of the course."""

__version__ = "0.1.0"
