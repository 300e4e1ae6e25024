"""Email as a channel: a mailbox read over IMAP or a mail server's pipe, answered over SMTP.

- ``parsing``: one RFC 5322 message read into a ``ParsedEmail`` (pure; no models), with ``external_id_for``;
- ``headers``, ``charsets``, ``mime``, ``automatic``: its parts (header decoding, charset fallbacks, body and
  attachments, auto-replies, bulk mail and bounces);
- ``html_text``: HTML mail as safe plain text; ``folding``: quoted history and signatures for display.
"""
