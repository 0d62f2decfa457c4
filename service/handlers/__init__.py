"""Built-in job kinds."""
