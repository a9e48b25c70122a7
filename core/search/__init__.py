"""Architecture search: the network that runs fastest on K devices at the accuracy asked for."""
