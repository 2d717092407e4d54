"""Order router: the only process that places orders."""
