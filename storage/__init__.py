"""What has been made and where it stands: tables, sessions, migrations,
the post lifecycle and the content-addressed media store."""
