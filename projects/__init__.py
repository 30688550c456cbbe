"""The five ecomvision projects. A project never imports another; shared code lives in ``shared``."""
