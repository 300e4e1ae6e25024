"""Email: mailboxes read over IMAP or fed by a pipe command, answered over SMTP."""
