"""The jobtrail service: storage, wiring, HTTP and the command line."""
