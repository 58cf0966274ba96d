"""Tools on a site's logs and broker: the shift report, review marks, the site console."""
