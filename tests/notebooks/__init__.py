"""The notebooks: committed without outputs, and executed headless against a history the stand-ins produce."""
