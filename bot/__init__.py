"""When and where it goes, and the people: settings, orchestration, daemon,
publishers, command line."""
