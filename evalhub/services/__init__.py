"""Every write in evalhub goes through a service here: pages, API, CLI, admin and tasks call them."""
